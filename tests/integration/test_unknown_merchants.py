"""Messages naming unknown merchants are answered at once from the merchant view and cannot hold up real ones."""

from __future__ import annotations

import asyncio
import json
import secrets
import string
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.contracts.rtncodes import RtnCode
from shared.ecticket.envelope import seal_request
from shared.sandbox.aio import payment_result
from shared.sandbox.merchant import MerchantClient, open_reply, unique
from shared.sandbox.tap import Tap
from shared.settings import Settings
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS
from tests.support.merchants import GIFT, PICKUP_FACE, fresh_merchant
from tests.support.orders import pay

pytestmark = pytest.mark.usefixtures("platform")

FLOOD = 1000
ALLOWED_DELAY_SECONDS = 1.0
OPERATIONS = ("Issue", "WriteOff", "Refund")


def stranger() -> str:
    """A MerchantID nobody registered (fresh_merchant's ids start with 9, the seeded ones are 7 digits)."""
    return "8" + "".join(secrets.choice(string.digits) for _ in range(9))


def stranger_request(operation: str, merchant_id: str) -> dict[str, Any]:
    """A well-formed request, sealed with keys the platform cannot know."""
    data: dict[str, Any] = {"MerchantID": merchant_id, "Operator": "pos1"}
    if operation == "Issue":
        data |= {"FreeTradeNo": unique("UF"), "IssueType": "3", "TicketInfo": [{"ItemNo": GIFT, "TicketAmount": 1}]}
    else:
        data |= {"WriteOffNo": unique("W"), "Action": "1"}
    key, iv = secrets.token_hex(8), secrets.token_hex(8)
    envelope = seal_request(data, merchant_id, None, key, iv, int(datetime.now(UTC).timestamp()))
    return {"request_id": unique("R"), "operation": operation, "envelope": envelope.to_wire()}


def replied(request_id: str) -> Any:
    return lambda s: s.type == "RequestReplied" and s.payload["request_id"] == request_id


def payment_event(merchant_id: str, trade_no: str) -> Any:
    return lambda s: (
        s.type in ("PaymentConfirmed", "PaymentRejected")
        and (s.payload["merchant_id"], s.payload["merchant_trade_no"]) == (merchant_id, trade_no)
    )


async def send_flood(merchant: MerchantClient) -> tuple[list[str], list[tuple[str, str]]]:
    """FLOOD messages from unknown merchants, half requests, half payment results, sent without waiting for each;
    returns the request ids and the (MerchantID, MerchantTradeNo) of the payments."""
    requests: list[str] = []
    payments: list[tuple[str, str]] = []
    sending = []
    for i in range(FLOOD):
        merchant_id = stranger()
        if i % 2:
            request = stranger_request(OPERATIONS[i % 3], merchant_id)
            requests.append(request["request_id"])
            body = json.dumps(request).encode()
            sending.append(await merchant.producer.send(INGEST_REQUESTS, body, key=merchant_id.encode()))
        else:
            trade_no = unique("UP")
            payments.append((merchant_id, trade_no))
            fields = payment_result(merchant_id, trade_no, PICKUP_FACE, paid_at=datetime.now(UTC))
            body = json.dumps(fields).encode()
            sending.append(await merchant.producer.send(INGEST_PAYMENTS, body, key=merchant_id.encode()))
    await asyncio.gather(*sending)
    return requests, payments


async def a_valid_order(merchant: MerchantClient, tap: Tap, merchant_id: str) -> tuple[float, float]:
    """Seconds until a known merchant's payment is confirmed and its gift Issue is answered with success."""
    loop = asyncio.get_running_loop()
    paid_no, gift_no = unique("VP"), unique("VG")
    started = loop.time()
    await pay(merchant_id, paid_no, PICKUP_FACE)
    data = {"MerchantID": merchant_id, "FreeTradeNo": gift_no, "IssueType": "3", "TicketInfo": [{"ItemNo": GIFT, "TicketAmount": 1}]}  # fmt: skip
    request_id = await merchant.send_request(merchant.request("Issue", data, merchant_id=merchant_id))

    async def confirmed() -> float:
        [seen] = await tap.wait_for(payment_event(merchant_id, paid_no))
        assert seen.type == "PaymentConfirmed", seen.payload
        return loop.time() - started

    async def issued() -> float:
        [seen] = await tap.wait_for(replied(request_id))
        assert open_reply(seen.payload["response"], merchant_id)["RtnCode"] == 1
        return loop.time() - started

    paid, answered = await asyncio.gather(confirmed(), issued())
    return paid, answered


async def test_a_thousand_unknown_merchants_delay_a_valid_merchant_by_less_than_a_second_and_each_is_refused(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    known = await fresh_merchant(topics)
    quiet = [await a_valid_order(merchant, tap, known) for _ in range(3)]
    quiet_paid = min(paid for paid, _ in quiet)
    quiet_answered = min(answered for _, answered in quiet)

    # A merchant registered just before its first request must still be found while the flood is being refused.
    newcomer = await fresh_merchant(topics)
    requests, payments = await send_flood(merchant)
    (paid, answered), (_, newcomer_answered) = await asyncio.gather(
        a_valid_order(merchant, tap, known), a_valid_order(merchant, tap, newcomer)
    )

    assert paid - quiet_paid < ALLOWED_DELAY_SECONDS, f"payment confirmed after {paid:.2f} s ({quiet_paid:.2f} quiet)"
    assert answered - quiet_answered < ALLOWED_DELAY_SECONDS, f"answered after {answered:.2f} s ({quiet_answered:.2f})"
    assert newcomer_answered - quiet_answered < ALLOWED_DELAY_SECONDS
    for request_id in requests:
        [reply] = await tap.wait_for(replied(request_id), seconds=30)
        assert (reply.payload["trans_code"], reply.payload["rtn_code"]) == (RtnCode.MERCHANT_UNKNOWN,) * 2
        assert reply.payload["response"]["Data"] == ""  # nothing to encrypt it with
    for merchant_id, trade_no in payments:
        [rejected] = await tap.wait_for(payment_event(merchant_id, trade_no), seconds=30)
        assert (rejected.type, rejected.payload["reason"]) == ("PaymentRejected", "unknown_merchant")
