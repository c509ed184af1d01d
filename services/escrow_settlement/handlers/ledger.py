"""Every fact takes one path: the slice of the ledger it touches, loaded under locks -> `settle` (pure) -> saved ->
events.

The consumer hands in a whole batch (one transaction); the payout run and a quarantine release use the same path,
so every fact, whatever its source, is posted, checked and published the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

import asyncpg

from services.escrow_settlement import outbound
from services.escrow_settlement.domain.batch import BatchOutcome, Slice, settle
from services.escrow_settlement.domain.facts import Fact, OrderFact, TransferFactBase
from services.escrow_settlement.domain.subjects import merchant_of, subject_merchant, subject_of
from services.escrow_settlement.handlers import reconciliation
from services.escrow_settlement.inbound import fact_from
from services.escrow_settlement.outbound import ExceptionRow
from services.escrow_settlement.store import books, journal, notices
from shared.clock import Clock
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing
from shared.infra.messages import Inbound, Parsed


@dataclass
class Ledger:
    clock: Clock
    cutoff: time  # fixes each consumed fact's business day (see inbound.py)

    async def on_events(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[EventEnvelope]]]
    ) -> list[Outgoing]:
        facts = [fact for _, parsed in items if (fact := fact_from(parsed.body, self.cutoff)) is not None]
        events, _ = await self.post(conn, facts)
        # The ledger's side of bank reconciliation, in the same transaction as the payments it posts.
        return events + await reconciliation.on_ledger_events(conn, [p.body for _, p in items], self.clock.now())

    async def post(self, conn: asyncpg.Connection, facts: Sequence[Fact]) -> tuple[list[Outgoing], BatchOutcome]:
        """Post facts in the caller's transaction; returns the events for its outbox, and what happened."""
        if not facts:
            return [], BatchOutcome()
        now = self.clock.now()
        outcome = settle(await load_slice(conn, facts), facts)
        await save(conn, outcome, now)
        events, alerts = outbound.published(outcome, now)
        await notices.record_alerts(conn, alerts, now)
        return events, outcome

    async def release(self, conn: asyncpg.Connection, subject: str) -> tuple[list[Outgoing], int] | None:
        """Lift a quarantine and post the facts that waited behind it (a subject still failing its check is
        quarantined again): the events for the caller's outbox and how many facts; None if it was not quarantined."""
        facts = await notices.release(conn, subject)
        if facts is None:
            return None
        events, _ = await self.post(conn, facts)
        return events, len(facts)


async def load_slice(conn: asyncpg.Connection, facts: Sequence[Fact]) -> Slice:
    """Locks each order key, and `transfers/<merchant>` for any bank-transfer fact, then reads what they guard."""
    orders = {f.order.key for f in facts if isinstance(f, OrderFact)}
    transfer_facts = [f for f in facts if isinstance(f, TransferFactBase)]
    subjects = {subject_of(f) for f in transfer_facts}
    merchants = {merchant_of(f) for f in facts}
    await books.lock(conn, orders | {books.transfer_lock(merchant_of(f)) for f in transfer_facts})
    transfers = (
        await books.transfers(conn, {f.instruction_id for f in transfer_facts}, subjects) if transfer_facts else {}
    )
    return Slice(
        books=await books.order_books(conn, orders),
        transfers=transfers,
        balances=await journal.balances_of(conn, orders | subjects | merchants),
        quarantined=await notices.quarantined(conn, orders | subjects),
        journal=await journal.releases_of(conn, orders),
    )


async def save(conn: asyncpg.Connection, outcome: BatchOutcome, now: datetime) -> None:
    await journal.append(conn, outcome.entries)
    await books.save_order_books(conn, outcome.books, now)
    await books.save_transfers(conn, outcome.transfers, now)
    await notices.record_exceptions(conn, [ExceptionRow.of(p, m) for p, m in outcome.exceptions], now)
    for subject, violations in outcome.violations.items():
        await notices.quarantine(conn, subject, subject_merchant(subject), violations, now)
    await notices.divert(conn, outcome.diverted, now)
