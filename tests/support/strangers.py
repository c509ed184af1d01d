"""Requests from merchants nobody registered, and a known merchant's order timed end to end."""

from __future__ import annotations

import asyncio
import secrets
import string
from datetime import UTC, datetime
from typing import Any

from shared.ecticket.envelope import seal_request
from shared.sandbox.merchant import MerchantClient, open_reply, unique
from shared.sandbox.tap import Tap
from tests.support.merchants import GIFT, PICKUP_FACE
from tests.support.orders import pay

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
