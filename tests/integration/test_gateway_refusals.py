"""Every envelope failure over HTTP gets its specific code, and nothing is acted on: the ticket a refused WriteOff
named is still unused afterwards, a refused payment result never reaches the payments topic.

The security checks are the owning services' (the gateway forwards the envelope as sent); the gateway answers only
what is not a request at all (oversize, not a JSON object, unknown path)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from shared.admin.seed import PLATFORM
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.processor_query import processor_url
from shared.ids import content_id
from shared.sandbox.aio import as_form, signed
from shared.sandbox.checkout import checkout
from shared.sandbox.merchant import KEYS, unique
from shared.settings import Settings
from shared.topics import INGEST_PAYMENTS
from tests.support.http_client import HttpMerchant
from tests.support.merchants import GIFT, fresh_merchant

pytestmark = pytest.mark.usefixtures("platform")  # the gateway among its services (tests/conftest.py)

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
async def merchant_id(topics: Settings) -> str:
    return await fresh_merchant(topics)


@pytest.fixture
async def client(merchant_id: str) -> AsyncIterator[HttpMerchant]:
    async with HttpMerchant(merchant_id, *KEYS[merchant_id]) as started:
        yield started


@pytest.fixture
async def ticket(client: HttpMerchant) -> AsyncIterator[dict[str, Any]]:
    """An unused gift voucher; after the test it must still be unused (the refused request acted on nothing)."""
    [issued] = await client.gift_tickets(GIFT, 1)
    yield issued
    status = await client.ok("QueryTicketStatus", {"TicketNo": issued["TicketNo"]})
    assert status["UseStatus"] == 1, status


def write_off(client: HttpMerchant, ticket: dict[str, Any]) -> dict[str, Any]:
    return {"MerchantID": client.merchant_id, "WriteOffNo": ticket["WriteOffNo"], "Action": "1", "Operator": "gw"}


async def test_a_bad_checksum_is_refused_9003(client: HttpMerchant, ticket: dict[str, Any]) -> None:
    envelope = client.envelope(write_off(client, ticket))
    envelope["CheckMacValue"] = "0" * 64
    answer = await client.post_json("/api/Ticket/WriteOff", envelope)
    assert (answer.status, answer.json["TransCode"]) == (200, RtnCode.CHECKMAC_MISMATCH)


async def test_data_sealed_with_the_wrong_key_is_refused_9004(client: HttpMerchant, ticket: dict[str, Any]) -> None:
    async with HttpMerchant(client.merchant_id, "0123456789abcdef", "fedcba9876543210") as impostor:
        answer = await impostor.call("WriteOff", write_off(client, ticket))
    assert (answer.status, answer.json["TransCode"]) == (200, RtnCode.DATA_DECRYPT_FAILED)


@pytest.mark.parametrize("skew", [-700, 700], ids=["stale", "future"])
async def test_a_timestamp_outside_ten_minutes_is_refused_9002(
    client: HttpMerchant, ticket: dict[str, Any], skew: int
) -> None:
    answer = await client.call("WriteOff", write_off(client, ticket), timestamp=int(time.time()) + skew)
    assert answer.reply is not None and answer.reply.trans_code == RtnCode.TIMESTAMP_OUT_OF_WINDOW, answer
    assert answer.reply.rtn_code == RtnCode.TIMESTAMP_OUT_OF_WINDOW  # Data sealed for the caller, saying the same


async def test_a_platform_acting_for_a_merchant_it_does_not_serve_is_refused_1003(
    client: HttpMerchant, ticket: dict[str, Any]
) -> None:
    async with HttpMerchant(client.merchant_id, *KEYS[PLATFORM], platform_id=PLATFORM) as platform:
        answer = await platform.call("WriteOff", write_off(client, ticket))
    assert answer.reply is not None and (answer.reply.trans_code, answer.reply.rtn_code) == (
        1,
        RtnCode.PLATFORM_NOT_AUTHORISED,
    )


async def test_verified_data_that_is_not_json_is_refused_1001(client: HttpMerchant) -> None:
    answer = await client.call("WriteOff", "WriteOffNo=1&Action=1")
    assert answer.reply is not None and (answer.reply.trans_code, answer.reply.rtn_code) == (1, RtnCode.DATA_INVALID)


async def test_an_envelope_without_its_fields_is_refused_9001(client: HttpMerchant) -> None:
    answer = await client.post_json("/api/Ticket/WriteOff", {"MerchantID": client.merchant_id, "Data": "x"})
    assert (answer.status, answer.json["TransCode"]) == (200, RtnCode.ENVELOPE_MALFORMED)


async def test_a_body_that_is_not_an_envelope_is_refused_9001_by_the_gateway(client: HttpMerchant) -> None:
    for body in (b"not json", b"[1, 2]", b'{"MerchantID": "no spaces allowed"}', b'{"Data": "x"}'):
        answer = await client.post("/api/Ticket/WriteOff", body)
        assert (answer.status, answer.json["TransCode"], answer.json["Data"]) == (400, RtnCode.ENVELOPE_MALFORMED, "")


async def test_an_oversize_body_is_refused_413_before_it_is_read(client: HttpMerchant, ticket: dict[str, Any]) -> None:
    envelope = client.envelope(write_off(client, ticket))
    envelope["Padding"] = "x" * (256 * 1024)
    answer = await client.post_json("/api/Ticket/WriteOff", envelope)
    assert (answer.status, answer.json["TransCode"]) == (413, RtnCode.ENVELOPE_MALFORMED)
    assert "exceeds" in answer.json["TransMsg"]


async def test_unknown_paths_and_methods_are_404_and_405(client: HttpMerchant) -> None:
    for path in ("/api/Ticket/Nope", "/api/ticket/WriteOff", "/api/issuance/issue", "/"):
        answer = await client.post(path, b"{}")
        assert answer.status == 404 and "error" in answer.json, (path, answer)
    assert (await client.get("/api/Ticket/WriteOff")).status == 405


async def test_no_error_leaks_a_trace_or_a_key(client: HttpMerchant) -> None:
    key, iv = KEYS[client.merchant_id]
    answers = [
        await client.post("/api/Ticket/WriteOff", b"\xff\xfe"),
        await client.post("/api/Ticket/Issue", b'{"MerchantID": "1", "RqHeader": 5}'),
        await client.post("/payment/ecpay/return", b"MerchantID=%ZZ", FORM),
    ]
    for answer in answers:
        assert "Traceback" not in answer.text and key not in answer.text and iv not in answer.text, answer


async def test_a_payment_result_is_answered_1_ok_once_on_the_topic(client: HttpMerchant, db: asyncpg.Pool) -> None:
    fields = await checkout(processor_url(), client.merchant_id, unique("WH"), 500, deliver=False)
    forged = signed({**fields, "TradeAmt": "5"}, key="wrongkeywrongkey", iv="wrongivwrongivwr")
    refused = await client.post("/payment/ecpay/return", as_form(forged), FORM)
    assert (refused.status, refused.text) == (400, "0|CheckMacValue does not match")
    stranger = await client.post("/payment/ecpay/return", as_form({**fields, "MerchantID": "1234512345"}), FORM)
    assert stranger.status == 400 and stranger.text.startswith("0|MerchantID")
    garbage = await client.post("/payment/ecpay/return", b"MerchantTradeNo=1", FORM)
    assert garbage.status == 400 and garbage.text.startswith("0|")

    accepted = await client.post("/payment/ecpay/return", as_form(fields), FORM)
    assert (accepted.status, accepted.text) == (200, "1|OK")
    # The accepted result reached payment-confirmation (its inbox holds its bytes); the forged one, sent before it
    # on the same partition, never did.
    inbox = "SELECT count(*) FROM payment_confirmation.inbox WHERE message_id = $1"
    await wait_until(db, inbox, content_id(INGEST_PAYMENTS, as_form(fields)))
    assert await db.fetchval(inbox, content_id(INGEST_PAYMENTS, as_form(forged))) == 0


async def wait_until(db: asyncpg.Pool, query: str, *args: object, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not await db.fetchval(query, *args):
        assert time.monotonic() < deadline, f"not true after {seconds} s: {query}"
        await asyncio.sleep(0.1)
