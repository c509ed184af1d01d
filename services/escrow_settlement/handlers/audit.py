"""The on-demand full check: the whole ledger loaded back (books, transfers, balances, journal) and put through the
core's `check_ledger`, plus the database's own account sums. Every subject with a violation is quarantined and
alerted exactly like a failed batch check; a ledger-wide violation stops every payout (quarantine `ledger`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import asyncpg

from services.escrow_settlement import outbound
from services.escrow_settlement.domain.invariants import Violation, check_ledger
from services.escrow_settlement.domain.subjects import LEDGER, stopped_subject, subject_merchant
from services.escrow_settlement.store import journal, notices
from shared.infra import outbox


async def check(conn: asyncpg.Connection, schema: str, now: datetime) -> list[Violation]:
    """Run every invariant over the whole ledger; quarantine and alert what fails (in the caller's transaction)."""
    state, entries = await journal.whole_ledger(conn)
    found = check_ledger(state, entries)
    owners = {str(e.entry_id): e.order.key if e.order else e.merchant_id for e in entries}
    cause = f"audit/{now.isoformat()}"
    events, alerts, by_subject = [], [], defaultdict[str, list[Violation]](list)
    for v in found:
        subject = stopped_subject(v, owners)
        merchant = "*" if subject == LEDGER else subject_merchant(subject)
        by_subject[subject].append(v)
        events.append(outbound.violation_raised(cause, subject, merchant, v, now))
        alerts.append(outbound.violation_row(cause, subject, merchant, v))
    for subject, violations in by_subject.items():
        merchant = "*" if subject == LEDGER else subject_merchant(subject)
        await notices.quarantine(conn, subject, merchant, violations, now)
    await notices.record_alerts(conn, alerts, now)
    await outbox.append(conn, schema, events)
    return found
