"""Escrow and usage expiry on the sandbox test clock: the scheduler, its catch-up after downtime, its batches."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from shared.admin.clocks import ClockRefused, advance_clock
from shared.admin.seed import TEST_MERCHANT
from shared.contracts.rtncodes import RtnCode
from shared.merchants.model import Mode
from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Tap
from shared.settings import Settings
from tests.support.merchants import GIFT, PICKUP, PICKUP_FACE, fresh_merchant
from tests.support.orders import issue_tickets
from tests.support.pos import Pos
from tests.support.processes import Platform, run_module

pytestmark = pytest.mark.usefixtures("platform")


def expired(merchant_id: str, kind: str | None = None) -> Any:
    return lambda s: (
        s.type == "TicketExpired"
        and s.payload["merchant_id"] == merchant_id
        and (kind is None or s.payload["kind"] == kind)
    )


async def admin(*args: str) -> tuple[int, str]:
    """`python -m shared.admin ...` as an operator runs it; returns its exit status and its output."""
    return await run_module("shared.admin", *args)


async def test_advancing_the_test_clock_91_days_releases_escrow_refuses_refunds_and_still_redeems(
    topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    merchant_id = await fresh_merchant(topics)
    returned, kept = await issue_tickets(merchant, tap, merchant_id, PICKUP, 2, face=PICKUP_FACE)
    status, output = await admin("clock-advance", "--merchant-id", merchant_id, "--days", "91")
    assert status == 0, output
    releases = await tap.wait_for_distinct(expired(merchant_id, "escrow"), 2)
    assert {r.payload["ticket_no"] for r in releases} == {returned["ticket_no"], kept["ticket_no"]}
    assert all(r.payload["within_escrow"] is False and r.payload["face_value"] == PICKUP_FACE for r in releases)
    pos = Pos(merchant, tap, merchant_id)
    assert (await pos.refund(ticket_no=returned["ticket_no"]))["RtnCode"] == RtnCode.REFUND_AFTER_ESCROW
    redeemed = await pos.write_off(kept["write_off_no"])
    assert (redeemed["RtnCode"], redeemed["UseStatus"]) == (1, 2)
    [written] = await tap.wait_for(
        lambda s: s.type == "TicketWrittenOff" and s.payload["ticket_no"] == kept["ticket_no"]
    )
    assert written.payload["within_escrow"] is False, "after escrow a write-off moves no money"
    row = await db.fetchrow(
        "SELECT status, escrow_released, due_at FROM redemption.tickets WHERE ticket_no = $1", returned["ticket_no"]
    )
    assert row is not None and (row["status"], row["escrow_released"], row["due_at"]) == (1, True, None)
    await asyncio.sleep(1.5)  # another sweep: still exactly one release per ticket
    assert len(await tap.wait_for_distinct(expired(merchant_id), 2)) == 2


async def test_the_test_clock_is_refused_for_a_production_merchant(topics: Settings) -> None:
    merchant_id = await fresh_merchant(topics, mode=Mode.PRODUCTION)
    status, output = await admin("clock-advance", "--merchant-id", merchant_id, "--days", "91")
    assert status != 0 and "production" in output
    with pytest.raises(ClockRefused, match="sandbox-only"):
        await advance_clock(topics, merchant_id, timedelta(days=1))


async def test_an_unused_gift_voucher_expires_after_its_expire_date_and_a_used_one_does_not(
    topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    merchant_id = await fresh_merchant(topics)
    unused, used = await issue_tickets(merchant, tap, merchant_id, GIFT, 2)
    pos = Pos(merchant, tap, merchant_id)
    assert (await pos.write_off(used["write_off_no"]))["RtnCode"] == 1
    await advance_clock(topics, merchant_id, timedelta(days=31))
    [usage] = await tap.wait_for_distinct(expired(merchant_id), 1)
    assert (usage.payload["ticket_no"], usage.payload["kind"]) == (unused["ticket_no"], "usage")
    assert (await pos.write_off(unused["write_off_no"]))["RtnCode"] == RtnCode.TICKET_EXPIRED
    assert (await pos.refund(ticket_no=unused["ticket_no"]))["RtnCode"] == RtnCode.TICKET_EXPIRED
    statuses = await db.fetch("SELECT ticket_no, status FROM redemption.tickets WHERE merchant_id = $1", merchant_id)
    assert {r["ticket_no"]: r["status"] for r in statuses} == {unused["ticket_no"]: 4, used["ticket_no"]: 2}


async def test_expiry_catches_up_after_the_service_was_down_across_the_due_time(
    topics: Settings, platform: Platform, merchant: MerchantClient, tap: Tap
) -> None:
    merchant_id = await fresh_merchant(topics)
    pickups = await issue_tickets(merchant, tap, merchant_id, PICKUP, 3, face=PICKUP_FACE)
    gifts = await issue_tickets(merchant, tap, merchant_id, GIFT, 2)
    await tap.wait_for(lambda s: s.type == "RequestReplied" and s.payload["merchant_id"] == merchant_id, count=2)
    await asyncio.sleep(0.5)  # let redemption store the tickets before it goes down
    await platform["redemption"].stop()
    await advance_clock(topics, merchant_id, timedelta(days=91))
    await asyncio.sleep(1.0)  # the due time passes while nothing runs
    await platform["redemption"].start()
    caught_up = await tap.wait_for_distinct(expired(merchant_id), 5)
    kinds = {s.payload["ticket_no"]: s.payload["kind"] for s in caught_up}
    assert kinds == {**{t["ticket_no"]: "escrow" for t in pickups}, **{t["ticket_no"]: "usage" for t in gifts}}


async def test_a_flood_of_due_tickets_expires_in_bounded_batches_while_live_write_offs_are_answered(
    topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    merchant_id = await fresh_merchant(topics)
    orders = await asyncio.gather(*(issue_tickets(merchant, tap, merchant_id, GIFT, 500) for _ in range(3)))
    flood = sum(len(tickets) for tickets in orders)
    live = await issue_tickets(merchant, tap, TEST_MERCHANT, "GF000030", 5)
    await asyncio.sleep(0.5)  # redemption has stored the flood
    await advance_clock(topics, merchant_id, timedelta(days=31))
    await tap.wait_for(expired(merchant_id))
    pos = Pos(merchant, tap, TEST_MERCHANT)
    loop = asyncio.get_running_loop()
    for ticket in live:  # while the flood is being expired
        started = loop.time()
        assert (await pos.write_off(ticket["write_off_no"]))["RtnCode"] == 1
        assert loop.time() - started < 3.0, "a live write-off waited behind the expiry batches"
    assert len(await tap.wait_for_distinct(expired(merchant_id, "usage"), flood)) == flood
    # A batch is one transaction, and its outbox rows share the transaction's start time (created_at = now()). The
    # two expiry workers' transactions may start in the same microsecond (the likely cause of a full run that saw 5
    # instants for 6 batches), so an instant holds at most two batches: at most 2 x 250 rows, at least 3 instants.
    largest, instants = await db.fetchrow(
        "SELECT max(n), count(*) FROM (SELECT count(*) AS n FROM redemption.outbox"
        " WHERE event_type = 'TicketExpired' AND key LIKE $1 GROUP BY created_at) AS per_transaction_start",
        merchant_id + "/%",
    )
    assert largest <= 2 * 250 and instants >= flood // (2 * 250), "bounded batches of at most 250 in tests"
