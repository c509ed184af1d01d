"""The settlement service's ledger over the real broker and database, fed contract events directly (so arrival
order and duplicates are exactly what the test says): it must equal, entry id for entry id, what the pure core
posts for the same events in their natural order."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Tap
from tests.support.settlement import (
    History,
    account_balances,
    core_ledger,
    publish,
    settled,
    synthetic_merchant,
)

pytestmark = pytest.mark.usefixtures("platform")

# Today: the real redemption service also learns these synthetic orders (it consumes TicketsIssued), and would
# expire their escrow at once if it had ended already. Each test has its own merchants, so dates cannot collide.
DAY = datetime.now(UTC)
LATER = DAY + timedelta(days=92)


def busy_history(merchant_id: str) -> History:
    """Every kind of fact: payments, write-offs, refunds with fees, both cancellations, expiry, a gift voucher,
    a write-off after escrow, and a mismatched payment."""
    h = History(merchant_id, DAY)
    a, b, gift = h.paid_order(500, 1200, gifts=1)
    [c] = h.paid_order(800)
    [d] = h.paid_order(300)
    h.paid_order(400, paid=450)  # mismatch: held in suspense, raised as an exception
    h.written_off(a)
    h.refunded(b, fee=120)
    h.written_off(gift)
    h.written_off(c)
    h.write_off_cancelled(c)
    h.refunded(d, fee=30)
    h.refund_cancelled(d, fee=30)
    h.expired(d, LATER)
    h.written_off(d, within=False, at=LATER)
    return h


async def test_a_day_of_facts_is_posted_exactly_as_the_core_posts_it(
    merchant: MerchantClient, db: asyncpg.Pool
) -> None:
    h = busy_history(synthetic_merchant())
    expected, balances = core_ledger(h.events)
    await publish(merchant.producer, h.events)
    entries, stored = await settled(db, [h.merchant_id], expected)
    assert entries == expected
    assert stored == balances
    assert await account_balances(db, [h.merchant_id]) == {a: v for a, v in balances.items() if "escrow-bank" not in a}
    payable = f"merchant_payable:{h.merchant_id}"
    assert (balances[payable], balances[f"merchant_fee_income:{h.merchant_id}"]) == (500 + 300, 120)


async def test_arrival_order_does_not_change_the_ledger(merchant: MerchantClient, db: asyncpg.Pool) -> None:
    reversed_, shuffled = busy_history(synthetic_merchant()), busy_history(synthetic_merchant())
    expected = {h.merchant_id: core_ledger(h.events) for h in (reversed_, shuffled)}
    mixed = list(shuffled.events)
    random.Random(4).shuffle(mixed)
    await publish(merchant.producer, reversed(reversed_.events))  # every ticket event before its payment/issuance
    await publish(merchant.producer, mixed)
    for h in (reversed_, shuffled):
        entries, balances = await settled(db, [h.merchant_id], expected[h.merchant_id][0])
        assert (entries, balances) == expected[h.merchant_id]


async def test_every_event_published_twice_changes_nothing(
    merchant: MerchantClient, db: asyncpg.Pool, tap: Tap
) -> None:
    h = busy_history(synthetic_merchant())
    expected = core_ledger(h.events)
    await publish(merchant.producer, h.events)
    await settled(db, [h.merchant_id], expected[0])
    await publish(merchant.producer, h.events)  # the second copy of each, after the first was applied
    await publish(merchant.producer, [e for e in h.events for _ in range(2)])  # and two more, back to back
    posted = lambda s: s.type == "LedgerEntryPosted" and s.payload["merchant_id"] == h.merchant_id  # noqa: E731
    await tap.quiet_matching(posted)  # the copies have had their time to post something twice
    assert await settled(db, [h.merchant_id], expected[0]) == expected
    await tap.wait_for_distinct(posted, len(expected[0]))
    assert len({s.envelope.event_id for s in await tap.quiet_matching(posted)}) == len(expected[0])


async def test_a_mismatched_payment_is_held_as_an_exception_not_guessed(
    merchant: MerchantClient, db: asyncpg.Pool, tap: Tap
) -> None:
    h = History(synthetic_merchant(), DAY)
    [ticket] = h.paid_order(400, paid=450)
    h.written_off(ticket)
    await publish(merchant.producer, h.events)
    [raised] = await tap.wait_for(
        lambda s: s.type == "SettlementExceptionRaised" and s.payload["merchant_id"] == h.merchant_id
    )
    assert raised.payload["kind"] == "payment_mismatch" and "450" in raised.payload["detail"]
    _, balances = await settled(db, [h.merchant_id], core_ledger(h.events)[0])
    assert balances == {"bank_cash:escrow-bank": 450, f"suspense:{h.merchant_id}/{h.orders[ticket]}": 450}
    row = await db.fetchrow(
        "SELECT status, parked FROM escrow_settlement.order_books WHERE merchant_id = $1", h.merchant_id
    )
    assert (row["status"], row["parked"]) == ("mismatch", 1)  # the write-off waits: nothing is released


async def test_a_write_off_of_an_order_nobody_issued_is_raised_once_it_is_overdue(
    merchant: MerchantClient, tap: Tap
) -> None:
    h = History(synthetic_merchant(), DAY)
    [ticket] = h.paid_order(500)
    write_off = h.written_off(ticket)
    await publish(merchant.producer, [write_off])  # its payment and issuance never come
    about = lambda s: s.type == "SettlementExceptionRaised" and s.payload["merchant_id"] == h.merchant_id  # noqa: E731
    await tap.wait_for(about, seconds=20)
    raised = await tap.quiet_matching(about)
    assert len({s.envelope.event_id for s in raised}) == 1  # raised once, not on every sweep
    assert raised[0].payload["kind"] == "waiting_overdue"
    assert (
        "awaiting_issuance" in raised[0].payload["detail"]
        and str(write_off.envelope.event_id) in raised[0].payload["detail"]
    )
