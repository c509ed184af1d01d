"""The ledger's service layer: facts -> the slice they touch (locked) -> settle (pure) -> saved -> events.

The consumer hands in a whole batch (one transaction); the payout run and a quarantine release use the same path,
so every fact, whatever its source, is posted, checked and published the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time

import asyncpg

from services.escrow_settlement import notice_store, outgoing, slices
from services.escrow_settlement.batch import BatchOutcome, settle
from services.escrow_settlement.intake import fact_from
from services.escrow_settlement.ledger.facts import Fact
from services.escrow_settlement.notice_store import AlertRow
from services.escrow_settlement.subjects import subject_merchant
from shared.clock import Clock
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing
from shared.contracts.settlement import AlertSeverity
from shared.infra.messages import Inbound, Parsed


@dataclass
class LedgerDesk:
    clock: Clock
    cutoff: time

    async def on_events(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[EventEnvelope]]]
    ) -> list[Outgoing]:
        facts = [fact for _, parsed in items if (fact := fact_from(parsed.body, self.cutoff)) is not None]
        events, _ = await self.post(conn, facts)
        return events

    async def post(self, conn: asyncpg.Connection, facts: Sequence[Fact]) -> tuple[list[Outgoing], BatchOutcome]:
        """Post facts in the caller's transaction; returns the events for its outbox, and what happened."""
        if not facts:
            return [], BatchOutcome()
        now = self.clock.now()
        outcome = settle(await slices.load(conn, facts), facts)
        await slices.save(conn, outcome, now)
        events, alerts = published(outcome, now)
        await notice_store.record_alerts(conn, alerts, now)
        return events, outcome


def published(outcome: BatchOutcome, now: datetime) -> tuple[list[Outgoing], list[AlertRow]]:
    """The events of a batch, and the alert rows kept for operations (pure)."""
    events = [outgoing.entry_posted(e, now) for e in outcome.entries]
    events += [
        outgoing.exception_raised(p.kind.value, p.cause_id, p.subject, m, p.detail, now) for p, m in outcome.exceptions
    ]
    alerts = []
    for alert, cause, merchant in outcome.alerts:
        events.append(outgoing.alert_raised(cause, alert.kind.value, alert.subject, merchant, alert.detail, now))
        row_id = outgoing.alert_id(cause, alert.kind.value, alert.subject)
        alerts.append(AlertRow(row_id, alert.kind.value, AlertSeverity.NOTICE, alert.subject, merchant, alert.detail,
                               cause))  # fmt: skip
    first_cause: dict[str, str] = {}
    for subject, fact in outcome.diverted:
        first_cause.setdefault(subject, fact.cause_id)
    for subject, violations in sorted(outcome.violations.items()):
        merchant, cause = subject_merchant(subject), first_cause.get(subject, subject)
        for v in violations:
            events.append(outgoing.violation_raised(cause, subject, merchant, v, now))
            row_id = outgoing.alert_id(cause, f"violation/{v.rule}", v.subject)
            alerts.append(AlertRow(row_id, f"invariant:{v.rule}", AlertSeverity.CRITICAL, subject, merchant,
                                   f"{v.subject}: {v.detail}", cause))  # fmt: skip
    return events, alerts
