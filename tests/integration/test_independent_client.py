"""A merchant whose ECTicket client shares no code with the platform issues, writes off and refunds over Kafka.

The client (tests/support/independent_client.py) is written from the API document and checked against its
official vectors; here it meets the real platform: real Kafka, real Postgres, a payment at the sandbox processor.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.admin.seed import TEST_MERCHANT
from shared.contracts.rtncodes import RtnCode
from shared.sandbox.merchant import KEYS
from shared.settings import Settings
from tests.support.independent_client import KafkaMerchant
from tests.support.orders import pay

pytestmark = pytest.mark.usefixtures("platform")

PICKUP, GIFT = "PU000500", "GF000030"  # the seeded merchant's NT$500 pickup voucher and free gift voucher


@pytest.fixture
async def client(topics: Settings) -> AsyncIterator[KafkaMerchant]:
    key, iv = KEYS[TEST_MERCHANT]
    async with KafkaMerchant(topics.kafka_bootstrap, TEST_MERCHANT, key, iv) as started:
        yield started


def trade_no(prefix: str) -> str:
    return (prefix + uuid.uuid4().hex)[:20].upper()


async def test_a_paid_order_is_issued_written_off_and_refunded_through_an_independent_client(
    client: KafkaMerchant,
) -> None:
    order = trade_no("IC")
    await pay(TEST_MERCHANT, order, 1000)  # two NT$500 vouchers, paid at the processor before the Issue
    issue = {"MerchantID": TEST_MERCHANT, "MerchantTradeNo": order, "IssueType": "3", "Operator": "ind1",
             "TicketInfo": [{"ItemNo": PICKUP, "TicketAmount": 2}]}  # fmt: skip
    issued = await client.call("Issue", issue)
    assert (issued.trans_code, issued.rtn_code) == (1, RtnCode.SUCCESS), issued
    assert issued.data is not None and issued.data["MerchantTradeNo"] == order
    first, second = issued.data["TicketList"]
    assert {first["ItemNo"], second["ItemNo"]} == {PICKUP}

    write_off = {"MerchantID": TEST_MERCHANT, "WriteOffNo": first["WriteOffNo"], "Action": "1", "Operator": "ind1"}
    used = await client.call("WriteOff", write_off)
    assert (used.trans_code, used.rtn_code) == (1, RtnCode.SUCCESS), used
    assert used.data is not None and (used.data["TicketNo"], used.data["UseStatus"]) == (first["TicketNo"], 2)
    again = await client.call("WriteOff", write_off)
    assert (again.trans_code, again.rtn_code) == (1, RtnCode.TICKET_ALREADY_WRITTEN_OFF)

    refund = {"MerchantID": TEST_MERCHANT, "TicketNo": second["TicketNo"], "Action": "1", "Operator": "ind1"}
    refunded = await client.call("Refund", refund)
    assert (refunded.trans_code, refunded.rtn_code) == (1, RtnCode.SUCCESS), refunded
    refused = await client.call("Refund", refund | {"TicketNo": first["TicketNo"]})
    assert refused.rtn_code == RtnCode.REFUND_OF_WRITTEN_OFF


async def test_a_gift_order_is_issued_and_its_voucher_written_off(client: KafkaMerchant) -> None:
    order = trade_no("IG")
    issue = {"MerchantID": TEST_MERCHANT, "FreeTradeNo": order, "IssueType": "3", "Operator": "ind1",
             "TicketInfo": [{"ItemNo": GIFT, "TicketAmount": 1}]}  # fmt: skip
    issued = await client.call("Issue", issue)
    assert issued.rtn_code == RtnCode.SUCCESS and issued.data is not None, issued
    [ticket] = issued.data["TicketList"]
    write_off = {"MerchantID": TEST_MERCHANT, "WriteOffNo": ticket["WriteOffNo"], "Action": "1", "Operator": "ind1"}
    assert (await client.call("WriteOff", write_off)).rtn_code == RtnCode.SUCCESS


async def test_verified_data_that_is_not_json_is_answered_transcode_1_with_rtncode_1001_inside(
    client: KafkaMerchant,
) -> None:
    answer = await client.call("Issue", "this is not JSON")
    assert (answer.trans_code, answer.rtn_code) == (1, RtnCode.DATA_INVALID), answer


async def test_a_merchant_the_platform_does_not_know_gets_transcode_1004_and_empty_data(topics: Settings) -> None:
    key, iv = KEYS[TEST_MERCHANT]
    async with KafkaMerchant(topics.kafka_bootstrap, "9999999991", key, iv) as stranger:
        answer = await stranger.call("WriteOff", {"MerchantID": "9999999991", "WriteOffNo": "X", "Action": "1"})
    assert (answer.trans_code, answer.data) == (RtnCode.MERCHANT_UNKNOWN, None)
