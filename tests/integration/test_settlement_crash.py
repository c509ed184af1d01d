"""kill -9 the settlement service during a stream of events and during a payout run: afterwards the ledger is the
one a crash-free run gives (the pure core's, entry id for entry id), and no money was instructed twice under two
ids (one instruction per merchant or order and day, with the id the plan derives)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import pytest

from services.escrow_settlement.domain.facts import (
    Fact,
    PayoutConfirmed,
    PayoutSent,
    RefundTransferConfirmed,
    RefundTransferSent,
    TransferSent,
)
from services.escrow_settlement.domain.payouts import plan, settlement_day
from services.escrow_settlement.domain.postings import post_all
from services.escrow_settlement.domain.state import LedgerState
from services.escrow_settlement.inbound import fact_from
from shared.ids import derived_id
from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Seen, Tap
from tests.support.processes import Platform
from tests.support.settlement import (
    History,
    core_ledger,
    facts_ledger,
    publish,
    random_history,
    settled,
    synthetic_merchant,
)

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("platform")]


async def restart_after_kill(platform: Platform) -> None:
    platform["escrow_settlement"].kill9()
    await platform["escrow_settlement"].start()


async def value_of(db: asyncpg.Pool, query: str, *args: object, interval: float = 0.1, seconds: float = 60) -> object:
    """The query's value once it is truthy (polling with a deadline)."""
    for _ in range(int(seconds / interval)):
        if value := await db.fetchval(query, *args):
            return value
        await asyncio.sleep(interval)
    raise TimeoutError(query)


def one_content_per_id(seen: list[Seen]) -> dict[str, Seen]:
    unique: dict[str, Seen] = {}
    for s in seen:
        earlier = unique.setdefault(str(s.envelope.event_id), s)
        assert earlier.envelope.payload == s.envelope.payload, "one event id published with two contents"
    return unique


async def test_a_stream_of_events_through_two_kill_9s_ends_as_the_crash_free_ledger(
    platform: Platform, merchant: MerchantClient, db: asyncpg.Pool, tap: Tap
) -> None:
    now = datetime.now(UTC)
    histories = [random_history(synthetic_merchant(), now, 30, seed) for seed in range(8)]
    events = [e for h in histories for e in h.events]
    random.Random(11).shuffle(events)  # any arrival order: parked facts are in the books when the kill comes
    merchants = [h.merchant_id for h in histories]
    expected = core_ledger(e for h in histories for e in h.events)

    async def stream() -> None:
        for start in range(0, len(events), 60):
            await publish(merchant.producer, events[start : start + 60])
            await asyncio.sleep(0.1)

    async def kills() -> list[int]:
        counts = []
        for pause in (0.6, 0.8):
            await asyncio.sleep(pause)
            counts.append(len((await settled(db, merchants, {}, seconds=0))[0]))
            await restart_after_kill(platform)
        return counts

    _, at_kills = await asyncio.gather(stream(), kills())
    assert 0 < at_kills[0] < len(expected[0]), f"the kills came before or after the work: {at_kills}"
    assert await settled(db, merchants, expected[0], seconds=60) == expected
    # The ledger is settled in the database before its relay has published the last entries: wait for them all,
    # then for quiet, so that an entry published under a second id would be seen too.
    ours = lambda s: s.type == "LedgerEntryPosted" and s.payload["merchant_id"] in merchants  # noqa: E731
    await tap.wait_for_distinct(ours, len(expected[0]), seconds=60)
    assert len(one_content_per_id(await tap.quiet_matching(ours))) == len(expected[0])


async def test_a_payout_run_killed_halfway_instructs_each_payout_once_under_its_planned_id(
    platform: Platform, merchant: MerchantClient, db: asyncpg.Pool, tap: Tap
) -> None:
    now = datetime.now(UTC) - timedelta(days=1)  # yesterday's orders: a payout run only settles a day that ended
    histories = [History(synthetic_merchant(), now) for _ in range(120)]
    for i, h in enumerate(histories):
        a, b = h.paid_order(500, 300)
        h.written_off(a)
        if i % 3 == 0:
            h.refunded(b, fee=30)  # a consumer refund to instruct as well
    merchants = [h.merchant_id for h in histories]
    facts: list[Fact] = [f for h in histories for e in h.events if (f := fact_from(e.envelope, time(0))) is not None]
    await publish(merchant.producer, [e for h in histories for e in h.events])
    await settled(db, merchants, facts_ledger(facts)[0], seconds=60)

    day = settlement_day(now)
    run_id = await db.fetchval(
        "INSERT INTO escrow_settlement.payout_runs (business_date, merchant_ids, requested_by, requested_at)"
        " VALUES ($1, $2, 'test', now()) RETURNING run_id",
        day,
        merchants,
    )
    instructed = "SELECT count(*) FROM escrow_settlement.transfers WHERE merchant_id = ANY($1::text[])"
    await value_of(db, instructed, merchants, interval=0.01)  # the run has committed its first merchant
    platform["escrow_settlement"].kill9()
    at_kill = await db.fetchval(instructed, merchants)
    await platform["escrow_settlement"].start()
    assert at_kill < 160, f"the run was over before the kill ({at_kill} instructions)"
    await value_of(db, "SELECT finished_at FROM escrow_settlement.payout_runs WHERE run_id = $1", run_id)

    state, _ = post_all(LedgerState(), facts)
    planned = plan(state, day)
    assert (len(planned.payouts), len(planned.refunds)) == (120, 40)
    answered_on = settlement_day(datetime.now(UTC))
    sent: list[TransferSent] = [*planned.payouts, *planned.refunds]
    crash_free = [*facts, *sent, *(_confirmed(s, answered_on) for s in sent)]
    expected = facts_ledger(crash_free)
    assert await settled(db, merchants, expected[0], seconds=60) == expected
    ours = lambda s: s.type in ("PayoutInstructed", "RefundInstructed") and s.payload["merchant_id"] in merchants  # noqa: E731
    planned_ids = {str(s.instruction_id) for s in sent}
    await tap.wait_for_distinct(ours, count=len(planned_ids), seconds=60)  # the ledger may be read before the topic
    instructions = tap.matching(ours)
    assert set(one_content_per_id(instructions)) == planned_ids  # one id per payout, the planned one, no other


def _confirmed(sent: PayoutSent | RefundTransferSent, on: date) -> Fact:
    """The bank's confirmation as settlement reads it (its event id is derived from the instruction id)."""
    answer = str(derived_id(sent.instruction_id, "escrow-bank/answer"))
    if isinstance(sent, PayoutSent):
        return PayoutConfirmed(cause_id=answer, on=on, instruction_id=sent.instruction_id,
                               merchant_id=sent.merchant_id, amount=sent.amount)  # fmt: skip
    return RefundTransferConfirmed(cause_id=answer, on=on, instruction_id=sent.instruction_id, order=sent.order,
                                   amount=sent.amount)  # fmt: skip
