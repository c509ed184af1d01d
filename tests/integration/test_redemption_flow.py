"""Write-offs, refunds and their cancellations over the real broker and database: rules, refusals, order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from shared.admin.seed import OTHER_MERCHANT, PLATFORM, SUB_MERCHANT, TEST_MERCHANT
from shared.clock import business_date
from shared.contracts.rtncodes import RtnCode
from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Seen, Tap
from tests.support.orders import gift_order_not_yet_issued, gift_write_off_no, issue_tickets, publish_issued
from tests.support.pos import Pos

pytestmark = pytest.mark.usefixtures("platform")


@pytest.fixture
def pos(merchant: MerchantClient, tap: Tap) -> Pos:
    return Pos(merchant, tap, TEST_MERCHANT)


def about(kind: str, ticket_no: str) -> Any:
    return lambda s: s.type == kind and s.payload.get("ticket_no") == ticket_no


def distinct(seen: list[Seen]) -> list[Seen]:
    """One per event id: a relay may publish an event twice, consumers keep one."""
    return list({s.envelope.event_id: s for s in seen}.values())


async def status_of(db: asyncpg.Pool, ticket_no: str) -> int:
    return int(await db.fetchval("SELECT status FROM redemption.tickets WHERE ticket_no = $1", ticket_no))


async def test_a_ticket_is_written_off_once_and_its_write_off_can_be_cancelled_the_same_day(
    pos: Pos, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "PU000500", face=500)
    code = ticket["write_off_no"]
    done = await pos.write_off(code)
    assert (done["RtnCode"], done["TicketNo"], done["UseStatus"], done["WriteOffNo"]) == (
        1,
        ticket["ticket_no"],
        2,
        code,
    )
    assert (await pos.write_off(code))["RtnCode"] == RtnCode.TICKET_ALREADY_WRITTEN_OFF
    undone = await pos.write_off(code, action="2")
    assert (undone["RtnCode"], undone["UseStatus"]) == (1, 1)
    assert (await pos.write_off(code, action="2"))["RtnCode"] == RtnCode.WRITE_OFF_CANCEL_NOT_ALLOWED
    [written] = await tap.wait_for(about("TicketWrittenOff", ticket["ticket_no"]))
    assert written.payload["within_escrow"] is True and written.payload["face_value"] == 500
    assert (
        written.payload["store_id"] == "S001" and written.key == f"{TEST_MERCHANT}/{written.payload['ticket_trade_no']}"
    )
    [cancelled] = await tap.wait_for(about("WriteOffCancelled", ticket["ticket_no"]))
    assert cancelled.payload["cancel_reason"] == "mistake"
    row = await db.fetchrow(
        "SELECT status, written_off_at, due_at FROM redemption.tickets WHERE ticket_no = $1", ticket["ticket_no"]
    )
    assert row is not None and (row["status"], row["written_off_at"]) == (1, None)
    assert row["due_at"] is not None, "an unused pickup voucher is back in the escrow-expiry schedule"


async def test_a_pickup_refund_returns_the_face_value_less_the_merchants_fee_and_can_be_cancelled_once(
    pos: Pos, merchant: MerchantClient, tap: Tap
) -> None:
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "PU000500", face=500)
    ticket_no, code = ticket["ticket_no"], ticket["write_off_no"]
    refunded = await pos.refund(ticket_no=ticket_no)
    assert (refunded["RtnCode"], refunded["UseStatus"], refunded["RefundAmount"], refunded["Fee"]) == (1, 3, 450, 50)
    assert (await pos.refund(write_off_no=code))["RtnCode"] == RtnCode.TICKET_ALREADY_REFUNDED
    assert (await pos.write_off(code))["RtnCode"] == RtnCode.TICKET_ALREADY_REFUNDED
    undone = await pos.refund(ticket_no=ticket_no, action="2")
    assert (undone["RtnCode"], undone["UseStatus"], undone["RefundAmount"], undone["Fee"]) == (1, 1, 450, 50)
    assert (await pos.refund(ticket_no=ticket_no, action="2"))["RtnCode"] == RtnCode.REFUND_CANCEL_NOT_ALLOWED
    assert (await pos.refund(write_off_no=code))["RtnCode"] == 1
    refunds = await tap.wait_for(about("TicketRefunded", ticket_no), count=2)
    assert [(r.payload["fee"], r.payload["refund_amount"]) for r in distinct(refunds)] == [(50, 450)] * 2
    [cancel] = distinct(await tap.wait_for(about("RefundCancelled", ticket_no)))
    assert cancel.payload["refund_amount"] == 450


async def test_a_written_off_ticket_is_refunded_only_after_its_write_off_is_cancelled(
    pos: Pos, merchant: MerchantClient, tap: Tap
) -> None:
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "PU000500", face=500)
    assert (await pos.write_off(ticket["write_off_no"]))["RtnCode"] == 1
    refused = await pos.refund(ticket_no=ticket["ticket_no"])
    assert (refused["RtnCode"], refused["UseStatus"]) == (RtnCode.REFUND_OF_WRITTEN_OFF, 2)
    [rejection] = await tap.wait_for(
        lambda s: s.type == "RedemptionRejected" and s.payload["ticket_no"] == ticket["ticket_no"]
    )
    assert (rejection.payload["operation"], rejection.payload["rtn_code"]) == ("refund", RtnCode.REFUND_OF_WRITTEN_OFF)
    assert (await pos.write_off(ticket["write_off_no"], action="2"))["RtnCode"] == 1
    assert (await pos.refund(ticket_no=ticket["ticket_no"]))["RtnCode"] == 1


async def test_a_gift_voucher_refund_changes_its_status_only(
    pos: Pos, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    [gift] = await issue_tickets(merchant, tap, TEST_MERCHANT, "GF000030")
    refunded = await pos.refund(write_off_no=gift["write_off_no"])
    assert (refunded["RtnCode"], refunded["RefundAmount"], refunded["Fee"]) == (1, 0, 0)
    assert await status_of(db, gift["ticket_no"]) == 3


async def test_a_ticket_cannot_be_written_off_before_its_start_date_but_can_be_refunded(
    pos: Pos, merchant: MerchantClient, tap: Tap
) -> None:
    starts = business_date(datetime.now(UTC)) + timedelta(days=5)
    [gift] = await issue_tickets(merchant, tap, TEST_MERCHANT, "GF000030", StartDate=starts.strftime("%Y%m%d"))
    assert (await pos.write_off(gift["write_off_no"]))["RtnCode"] == RtnCode.TICKET_NOT_YET_VALID
    assert (await pos.refund(ticket_no=gift["ticket_no"]))["RtnCode"] == 1


async def test_a_refund_whose_ticket_no_and_write_off_no_name_two_tickets_is_not_found(
    pos: Pos, merchant: MerchantClient, tap: Tap
) -> None:
    first, second = await issue_tickets(merchant, tap, TEST_MERCHANT, "GF000030", 2)
    refused = await pos.refund(ticket_no=first["ticket_no"], write_off_no=second["write_off_no"])
    assert refused["RtnCode"] == RtnCode.TICKET_NOT_FOUND and "TicketNo" not in refused


@pytest.mark.parametrize(
    ("operation", "data"),
    [
        ("WriteOff", {"Action": "1", "Operator": "pos1"}),  # no WriteOffNo
        ("WriteOff", {"WriteOffNo": "X", "Action": "3", "Operator": "pos1"}),
        ("WriteOff", {"WriteOffNo": "X", "Action": "1"}),  # no Operator
        ("Refund", {"TicketNo": "", "WriteOffNo": "", "Operator": "desk1"}),
    ],
)
async def test_request_data_that_cannot_be_decided_on_is_refused_as_invalid(
    merchant: MerchantClient, tap: Tap, operation: str, data: dict[str, str]
) -> None:
    message = merchant.request(operation, {"MerchantID": TEST_MERCHANT, **data}, merchant_id=TEST_MERCHANT)
    answer = await Pos(merchant, tap, TEST_MERCHANT).answer(message)
    assert answer["RtnCode"] == RtnCode.DATA_INVALID
    [rejection] = await tap.wait_for(
        lambda s: s.type == "RedemptionRejected" and s.payload["request_id"] == message["request_id"]
    )
    assert rejection.payload["rtn_code"] == RtnCode.DATA_INVALID


async def test_another_merchant_can_neither_redeem_nor_refund_nor_see_a_ticket(
    pos: Pos, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "PU000500", face=500)
    stranger = Pos(merchant, tap, OTHER_MERCHANT)
    for answer in (
        await stranger.write_off(ticket["write_off_no"]),
        await stranger.refund(ticket_no=ticket["ticket_no"]),
        await stranger.write_off(ticket["write_off_no"], action="2"),
    ):
        assert answer["RtnCode"] == RtnCode.TICKET_OF_OTHER_MERCHANT
        assert not {"TicketNo", "TicketTradeNo", "UseStatus"} & answer.keys()
    assert await status_of(db, ticket["ticket_no"]) == 1
    assert (await pos.write_off(ticket["write_off_no"]))["RtnCode"] == 1


async def test_a_platform_redeems_and_refunds_for_its_sub_merchant_but_not_for_a_merchant_it_does_not_own(
    merchant: MerchantClient, tap: Tap
) -> None:
    spa, drink = await issue_tickets(merchant, tap, SUB_MERCHANT, "PU000800", 2, face=800)
    for_sub = Pos(merchant, tap, SUB_MERCHANT, platform_id=PLATFORM)
    refunded = await for_sub.refund(ticket_no=spa["ticket_no"])
    assert (refunded["RtnCode"], refunded["RefundAmount"], refunded["Fee"]) == (1, 770, 30)  # fixed NT$30 fee
    assert (await for_sub.write_off(drink["write_off_no"]))["RtnCode"] == 1
    again = for_sub.write_off_message(drink["write_off_no"])
    assert (await for_sub.answer(again))["RtnCode"] == RtnCode.TICKET_ALREADY_WRITTEN_OFF
    [rejection] = await tap.wait_for(
        lambda s: s.type == "RedemptionRejected" and s.payload["request_id"] == again["request_id"]
    )
    assert rejection.payload["acting_platform_id"] == PLATFORM
    not_its_own = Pos(merchant, tap, OTHER_MERCHANT, platform_id=PLATFORM)
    assert (await not_its_own.write_off(drink["write_off_no"]))["RtnCode"] == RtnCode.PLATFORM_NOT_AUTHORISED


async def test_a_write_off_with_a_bad_checksum_is_refused_at_the_envelope_with_one_reply(pos: Pos, tap: Tap) -> None:
    message = pos.write_off_message("ANYCODE")
    message["envelope"]["CheckMacValue"] = "0" * 64
    request_id = await pos.send(message)
    replies = await tap.wait_for(lambda s: s.type == "RequestReplied" and s.payload["request_id"] == request_id)
    assert replies[0].payload["trans_code"] == RtnCode.CHECKMAC_MISMATCH
    assert (
        len(
            await tap.quiet_matching(
                lambda s: s.type == "RequestReplied" and s.payload["request_id"] == request_id, 1.0
            )
        )
        == 1
    )


async def test_an_exact_redelivery_of_a_request_is_decided_and_answered_once(
    pos: Pos, merchant: MerchantClient, tap: Tap
) -> None:
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "GF000030")
    message = pos.write_off_message(ticket["write_off_no"])
    await pos.send(message)
    await pos.send(message)
    assert (await pos.reply(message["request_id"]))["RtnCode"] == 1
    replies = await tap.quiet_matching(
        lambda s: s.type == "RequestReplied" and s.payload["request_id"] == message["request_id"], 1.0
    )
    assert len(distinct(replies)) == 1


async def test_requests_for_a_ticket_not_issued_yet_wait_for_it_and_are_decided_in_arrival_order(
    pos: Pos, merchant: MerchantClient, tap: Tap
) -> None:
    order = gift_order_not_yet_issued(TEST_MERCHANT)
    [ticket] = order.tickets
    first = await pos.send(pos.write_off_message(gift_write_off_no(ticket)))
    second = await pos.send(pos.write_off_message(gift_write_off_no(ticket)))
    third = await pos.send(pos.refund_message(ticket_no=ticket.ticket_no))
    await asyncio.sleep(1.0)
    assert not tap.matching(lambda s: s.type == "RequestReplied" and s.payload["request_id"] == first)
    await publish_issued(merchant, order)  # within the wait (4 s in tests)
    answers = [(await pos.reply(request_id))["RtnCode"] for request_id in (first, second, third)]
    assert answers == [1, RtnCode.TICKET_ALREADY_WRITTEN_OFF, RtnCode.REFUND_OF_WRITTEN_OFF]


async def test_a_request_for_a_ticket_that_is_never_issued_fails_as_not_found_after_the_wait(
    pos: Pos, tap: Tap
) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    message = pos.write_off_message("NEVERISSUED" + str(int(started)))
    answer = await pos.answer(message)
    assert answer["RtnCode"] == RtnCode.TICKET_NOT_FOUND
    assert loop.time() - started >= 3.5, "refused before the ticket had its chance to arrive"
    [rejection] = await tap.wait_for(
        lambda s: s.type == "RedemptionRejected" and s.payload["request_id"] == message["request_id"]
    )
    assert rejection.payload["rtn_code"] == RtnCode.TICKET_NOT_FOUND and rejection.payload["ticket_trade_no"] is None


async def test_tickets_issued_together_are_each_learned_once_and_free_every_request_waiting_for_them(
    pos: Pos, merchant: MerchantClient, db: asyncpg.Pool
) -> None:
    orders = [gift_order_not_yet_issued(TEST_MERCHANT, count=2) for _ in range(3)]
    waiting = [await pos.send(pos.write_off_message(gift_write_off_no(order.tickets[0]))) for order in orders]
    await asyncio.sleep(0.5)
    for order in orders:  # published back to back: redemption learns them in one batch, in one statement
        await publish_issued(merchant, order)
    await publish_issued(merchant, orders[0])  # a second TicketsIssued naming the same tickets
    assert [(await pos.reply(request_id))["RtnCode"] for request_id in waiting] == [1, 1, 1]
    rows = await db.fetch(
        "SELECT ticket_no, status FROM redemption.tickets WHERE ticket_trade_no = ANY($1::text[])",
        [order.ticket_trade_no for order in orders],
    )
    status = {row["ticket_no"]: row["status"] for row in rows}
    assert len(rows) == 6
    assert [status[order.tickets[0].ticket_no] for order in orders] == [2, 2, 2]  # written off by the waiting requests
    assert [status[order.tickets[1].ticket_no] for order in orders] == [1, 1, 1]
