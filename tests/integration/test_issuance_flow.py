"""Paid and gift orders become issued tickets exactly once, over the real broker and database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from shared.admin.seed import OTHER_MERCHANT, PLATFORM, SUB_MERCHANT, TEST_MERCHANT
from shared.contracts.rtncodes import RtnCode
from shared.sandbox.merchant import MerchantClient, open_reply, unique
from shared.sandbox.tap import Tap
from tests.support.orders import pay
from tests.support.processes import Platform

pytestmark = pytest.mark.usefixtures("platform")


def lines(*items: tuple[str, int]) -> list[dict[str, Any]]:
    return [{"ItemNo": item, "TicketAmount": count} for item, count in items]


def issue_data(
    trade_no: str, ticket_info: list[dict[str, Any]], *, merchant_id: str = TEST_MERCHANT, free: bool = False
) -> dict[str, Any]:
    order = {"FreeTradeNo": trade_no} if free else {"MerchantTradeNo": trade_no}
    return {"MerchantID": merchant_id, **order, "IssueType": "3", "Operator": "tester", "TicketInfo": ticket_info}


def reply_to(request_id: str) -> Any:
    return lambda s: s.type == "RequestReplied" and s.payload["request_id"] == request_id


def issued(trade_no: str) -> Any:
    return lambda s: s.type == "TicketsIssued" and s.payload["ticket_trade_no"] == trade_no


def event(kind: str, trade_no: str) -> Any:
    return lambda s: s.type == kind and trade_no in (s.payload.get("merchant_trade_no"), s.payload.get("free_trade_no"))


async def answer(tap: Tap, request_id: str, merchant_id: str = TEST_MERCHANT) -> dict[str, Any]:
    [seen] = await tap.wait_for(reply_to(request_id))
    return open_reply(seen.envelope.payload["response"], merchant_id)


async def tickets_in_db(db: asyncpg.Pool, merchant_id: str, trade_no: str) -> int:
    return int(
        await db.fetchval(
            "SELECT count(*) FROM issuance.tickets WHERE merchant_id = $1 AND ticket_trade_no = $2",
            merchant_id,
            trade_no,
        )
    )


async def test_a_paid_order_is_issued_when_the_payment_arrives_first(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    trade_no = unique("PF")
    await pay(TEST_MERCHANT, trade_no, 1700)
    await tap.wait_for(event("PaymentConfirmed", trade_no))
    request_id = await merchant.send_request(
        merchant.request(
            "Issue", issue_data(trade_no, lines(("PU000500", 1), ("PU001200", 1))), merchant_id=TEST_MERCHANT
        )
    )
    data = await answer(tap, request_id)
    assert (data["RtnCode"], data["TicketTradeNo"], len(data["TicketList"])) == (1, trade_no, 2)
    [tickets] = await tap.wait_for(issued(trade_no))
    assert tickets.payload["total_face_value"] == 1700
    assert tickets.payload["payment"]["amount"] == 1700
    assert await tickets_in_db(db, TEST_MERCHANT, trade_no) == 2


async def test_a_paid_order_is_issued_when_the_request_arrives_first(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    trade_no = unique("RF")
    request_id = await merchant.send_request(
        merchant.request("Issue", issue_data(trade_no, lines(("PU000500", 3))), merchant_id=TEST_MERCHANT)
    )
    await asyncio.sleep(0.5)
    assert not tap.matching(reply_to(request_id)), "a paid order must wait for its payment"
    # The genuine result, posted form-encoded (as ECPay posts it to a ReturnURL) instead of the processor's JSON.
    await merchant.send_payment(await pay(TEST_MERCHANT, trade_no, 1500, deliver=False), form=True)
    data = await answer(tap, request_id)
    assert data["RtnCode"] == 1 and len(data["TicketList"]) == 3
    assert await tickets_in_db(db, TEST_MERCHANT, trade_no) == 3
    [tickets] = await tap.wait_for(issued(trade_no))
    assert tickets.payload["escrow_expiry_date"] is not None


async def test_a_gift_only_order_is_issued_at_once_without_payment(merchant: MerchantClient, tap: Tap) -> None:
    trade_no = unique("GF")
    request_id = await merchant.send_request(
        merchant.request("Issue", issue_data(trade_no, lines(("GF000030", 2)), free=True), merchant_id=TEST_MERCHANT)
    )
    data = await answer(tap, request_id)
    assert data["RtnCode"] == 1 and data["FreeTradeNo"] == trade_no
    [tickets] = await tap.wait_for(issued(trade_no))
    assert tickets.payload["payment"] is None and tickets.payload["escrow_expiry_date"] is None
    assert all(t["expire_date"] for t in tickets.payload["tickets"])


async def test_a_mixed_order_needs_payment_for_its_pickup_vouchers_only(merchant: MerchantClient, tap: Tap) -> None:
    trade_no = unique("MX")
    await pay(TEST_MERCHANT, trade_no, 500)
    request_id = await merchant.send_request(
        merchant.request(
            "Issue", issue_data(trade_no, lines(("PU000500", 1), ("GF000030", 1))), merchant_id=TEST_MERCHANT
        )
    )
    assert (await answer(tap, request_id))["RtnCode"] == 1
    [tickets] = await tap.wait_for(issued(trade_no))
    assert sorted(t["ticket_type"] for t in tickets.payload["tickets"]) == [1, 2]


async def test_duplicate_payments_and_duplicate_requests_issue_once(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    trade_no = unique("DU")
    payment = await pay(TEST_MERCHANT, trade_no, 500, deliver=False)  # the genuine result, sent three times here
    request = merchant.request("Issue", issue_data(trade_no, lines(("PU000500", 1))), merchant_id=TEST_MERCHANT)
    resent = merchant.request("Issue", issue_data(trade_no, lines(("PU000500", 1))), merchant_id=TEST_MERCHANT)
    for _ in range(2):
        await merchant.send_payment(payment)
        await merchant.send_request(request)
    await merchant.send_payment(payment, form=True)  # the same result, other encoding
    await merchant.send_request(resent)
    assert (await answer(tap, request["request_id"]))["RtnCode"] == 1
    second = await answer(tap, resent["request_id"])
    assert second["RtnCode"] == RtnCode.ORDER_DUPLICATE
    await tap.wait_for(issued(trade_no))  # on another topic than the replies: the tap may read it later
    await tap.wait_for(event("PaymentConfirmed", trade_no))
    assert len(await tap.quiet_matching(issued(trade_no))) == 1
    assert len(tap.matching(event("PaymentConfirmed", trade_no))) == 1
    assert len(tap.matching(reply_to(request["request_id"]))) == 1
    assert await tickets_in_db(db, TEST_MERCHANT, trade_no) == 1


async def test_a_second_genuine_payment_for_a_paid_order_leaves_the_first_standing(tap: Tap) -> None:
    """The consumer is charged twice (two trades at the processor, the second of another amount): the first stays
    the order's payment, and the second is named as the duplicate of it (rejected as a conflicting duplicate, or
    confirmed as one for settlement to refund)."""
    trade_no = unique("CF")
    first = await pay(TEST_MERCHANT, trade_no, 500)
    await tap.wait_for(lambda s: s.type == "PaymentConfirmed" and s.payload["trade_no"] == first["TradeNo"])
    second = await pay(TEST_MERCHANT, trade_no, 900, again=True)
    [duplicate] = await tap.wait_for(
        lambda s: s.type in ("PaymentConfirmed", "PaymentRejected") and s.payload.get("trade_no") == second["TradeNo"]
    )
    stands = duplicate.payload.get("duplicate_of") or duplicate.payload.get("confirmed_trade_no")
    assert stands == first["TradeNo"], duplicate.payload
    [confirmed] = [s for s in tap.matching(event("PaymentConfirmed", trade_no)) if not s.payload.get("duplicate_of")]
    assert (confirmed.payload["trade_no"], confirmed.payload["amount"]) == (first["TradeNo"], 500)


async def test_an_order_whose_payment_differs_from_its_face_value_fails(merchant: MerchantClient, tap: Tap) -> None:
    trade_no = unique("AM")
    await pay(TEST_MERCHANT, trade_no, 499)
    request_id = await merchant.send_request(
        merchant.request("Issue", issue_data(trade_no, lines(("PU000500", 1))), merchant_id=TEST_MERCHANT)
    )
    assert (await answer(tap, request_id))["RtnCode"] == RtnCode.PAYMENT_AMOUNT_MISMATCH
    [failed] = await tap.wait_for(event("IssueFailed", trade_no))
    assert failed.payload["rtn_code"] == RtnCode.PAYMENT_AMOUNT_MISMATCH
    assert not tap.matching(issued(trade_no))


async def test_a_non_card_payment_is_rejected_and_the_order_fails_when_its_wait_ends(
    merchant: MerchantClient, tap: Tap
) -> None:
    trade_no = unique("AT")
    request_id = await merchant.send_request(
        merchant.request("Issue", issue_data(trade_no, lines(("PU000500", 1))), merchant_id=TEST_MERCHANT)
    )
    await pay(TEST_MERCHANT, trade_no, 500, payment_type="ATM_LAND")
    [rejected] = await tap.wait_for(event("PaymentRejected", trade_no))
    assert rejected.payload["reason"] == "not_one_time_credit_card"
    data = await answer(tap, request_id)
    assert data["RtnCode"] == RtnCode.PAYMENT_NOT_ACCEPTED and "not_one_time_credit_card" in data["RtnMsg"]


async def test_an_order_whose_payment_never_arrives_fails_with_a_clear_reason(
    merchant: MerchantClient, tap: Tap
) -> None:
    trade_no = unique("NP")
    request_id = await merchant.send_request(
        merchant.request("Issue", issue_data(trade_no, lines(("PU000500", 1))), merchant_id=TEST_MERCHANT)
    )
    data = await answer(tap, request_id)
    assert data["RtnCode"] == RtnCode.PAYMENT_NOT_RECEIVED and data["Status"] == 2


async def test_a_request_with_a_bad_checksum_is_refused_at_the_envelope(merchant: MerchantClient, tap: Tap) -> None:
    message = merchant.request(
        "Issue", issue_data(unique("BC"), lines(("GF000030", 1)), free=True), merchant_id=TEST_MERCHANT
    )
    message["envelope"]["CheckMacValue"] = "0" * 64
    await merchant.send_request(message)
    [seen] = await tap.wait_for(reply_to(message["request_id"]))
    assert seen.payload["trans_code"] == RtnCode.CHECKMAC_MISMATCH
    assert open_reply(seen.payload["response"], TEST_MERCHANT)["RtnCode"] == RtnCode.CHECKMAC_MISMATCH


async def test_a_request_with_an_expired_timestamp_is_refused(merchant: MerchantClient, tap: Tap) -> None:
    stale = int((datetime.now(UTC) - timedelta(minutes=11)).timestamp())
    message = merchant.request(
        "Issue", issue_data(unique("TS"), lines(("GF000030", 1)), free=True), merchant_id=TEST_MERCHANT, timestamp=stale
    )
    await merchant.send_request(message)
    [seen] = await tap.wait_for(reply_to(message["request_id"]))
    assert seen.payload["trans_code"] == RtnCode.TIMESTAMP_OUT_OF_WINDOW


async def test_a_platform_issues_for_its_sub_merchant_but_not_for_a_merchant_it_does_not_own(
    merchant: MerchantClient, tap: Tap
) -> None:
    own = merchant.request(
        "Issue",
        issue_data(unique("PO"), lines(("GF000007", 1)), merchant_id=SUB_MERCHANT, free=True),
        merchant_id=SUB_MERCHANT,
        platform_id=PLATFORM,
    )
    foreign = merchant.request(
        "Issue",
        issue_data(unique("PX"), lines(("PU000100", 1)), merchant_id=OTHER_MERCHANT),
        merchant_id=OTHER_MERCHANT,
        platform_id=PLATFORM,
    )
    await merchant.send_request(own)
    await merchant.send_request(foreign)
    assert (await answer(tap, own["request_id"], PLATFORM))["RtnCode"] == 1
    assert (await answer(tap, foreign["request_id"], PLATFORM))["RtnCode"] == RtnCode.PLATFORM_NOT_AUTHORISED


async def test_unknown_operations_get_one_clear_reply(merchant: MerchantClient, tap: Tap) -> None:
    message = merchant.request("Teleport", {"MerchantID": TEST_MERCHANT}, merchant_id=TEST_MERCHANT)
    await merchant.send_request(message)
    assert (await answer(tap, message["request_id"]))["RtnCode"] == RtnCode.OPERATION_UNKNOWN


def rejected_from(topic: str, consumer: str) -> Any:
    return lambda s: (
        s.type == "MessageRejected" and s.payload["source_topic"] == topic and s.payload["consumer"] == consumer
    )


@pytest.mark.parametrize(
    ("topic", "consumer"),
    [("ecticket.ingest.requests.v1", "issuance"), ("ecticket.ingest.payments.v1", "payment-confirmation")],
)
async def test_malformed_messages_are_dead_lettered_and_the_consumer_keeps_going(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool, platform: Platform, topic: str, consumer: str
) -> None:
    before = len(tap.matching(rejected_from(topic, consumer)))
    marker = unique("BAD").encode()
    bad = [
        b"not json at all \xff" + marker,
        b'{"request_id": "' + marker + b'", "operation": "Issue", "envel',
        b'{"pad": "' + marker + b'"' + b" " * 300_000 + b"}",
    ]
    for body in bad:
        await merchant.send_raw(topic, body, key=b"3085676")
    found = await tap.wait_for(rejected_from(topic, consumer), count=before + 3)
    errors = " | ".join(str(s.payload["error"]) for s in found[before:])
    assert "exceeds" in errors
    schema = consumer.replace("-", "_")
    stored = await db.fetchval(
        f"SELECT count(*) FROM {schema}.dead_letters WHERE topic = $1 AND value = ANY($2::bytea[])", topic, bad
    )
    assert stored == 3
    # ...and the consumer still serves good traffic.
    trade_no = unique("AF")
    request_id = await merchant.send_request(
        merchant.request("Issue", issue_data(trade_no, lines(("GF000030", 1)), free=True), merchant_id=TEST_MERCHANT)
    )
    assert (await answer(tap, request_id))["RtnCode"] == 1
    assert all(svc.process and svc.process.poll() is None for svc in platform.services.values())
