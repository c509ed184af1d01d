"""The on-demand full check: the whole ledger loaded back (books, transfers, balances, journal) and put through the
core's `check_ledger`, plus the database's own account sums, plus money stranded: a paid order neither issued nor
failed (so neither tickets nor refunded) long after issuance should have decided it (`payment_unresolved`), plus the
database's own guards (`database_guard`: a trigger or function that is not what the migrations define, so the journal
may no longer be append-only or the balances no longer follow the postings; ledger-wide). Every
subject with a violation is quarantined and alerted exactly like a failed batch check; a ledger-wide violation stops
every payout (quarantine `ledger`). A stranded payment is alerted but its order not quarantined: its books are
sound, it lacks a decision, and the failure that would refund it must not wait behind a quarantine."""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg

from services.escrow_settlement import outbound
from services.escrow_settlement.domain.invariants import Violation, check_ledger, unresolved_payments
from services.escrow_settlement.domain.subjects import LEDGER, stopped_subject, subject_merchant
from services.escrow_settlement.store import books, journal, notices
from shared.infra import outbox, schema_guards

# Rules that find money waiting for a decision, not books that are wrong: alerted, the order not quarantined.
ALERTED_ONLY = frozenset({"payment_unresolved"})


def unresolved_after() -> timedelta:
    """How long a paid order may await its issuance before its money counts as stranded: issuance gives up an
    unclaimed payment (and settlement refunds it) after ISSUANCE_UNCLAIMED_PAYMENT_SECONDS, the platform setting
    read here too because this check holds issuance to it; SETTLEMENT_UNRESOLVED_MARGIN_SECONDS (default 3600) on
    top covers issuance's sweep, its downtime credit and the failure's way here."""
    wait = float(os.environ.get("ISSUANCE_UNCLAIMED_PAYMENT_SECONDS", "86400"))
    margin = float(os.environ.get("SETTLEMENT_UNRESOLVED_MARGIN_SECONDS", "3600"))
    return timedelta(seconds=wait + margin)


async def check(
    conn: asyncpg.Connection, schema: str, migrations: Path, now: datetime, unresolved: timedelta | None = None
) -> list[Violation]:
    """Run every invariant over the whole ledger; quarantine and alert what fails (in the caller's transaction).
    `migrations`: the schema's migrations, whose triggers and functions the schema must still hold; `unresolved`:
    how long a paid order may await issuance (default `unresolved_after()`)."""
    state, entries = await journal.whole_ledger(conn)
    found = check_ledger(state, entries)
    found += [Violation("database_guard", LEDGER, p) for p in await schema_guards.drift(conn, schema, migrations)]
    since = await books.paid_awaiting_issuance(conn)
    wait = unresolved_after() if unresolved is None else unresolved
    # (The event's `quarantined` names the order as for any violation; its detail says it was not stopped.)
    found += [
        replace(v, detail=f"{v.detail}; alerted, not quarantined")
        for v in unresolved_payments(state.orders, since, now, wait)
    ]
    owners = {str(e.entry_id): e.order.key if e.order else e.merchant_id for e in entries}
    cause = f"audit/{now.isoformat()}"
    events, alerts, by_subject = [], [], defaultdict[str, list[Violation]](list)
    for v in found:
        subject = stopped_subject(v, owners)
        merchant = "*" if subject == LEDGER else subject_merchant(subject)
        if v.rule not in ALERTED_ONLY:
            by_subject[subject].append(v)
        events.append(outbound.violation_raised(cause, subject, merchant, v, now))
        alerts.append(outbound.violation_row(cause, subject, merchant, v))
    for subject, violations in by_subject.items():
        merchant = "*" if subject == LEDGER else subject_merchant(subject)
        await notices.quarantine(conn, subject, merchant, violations, now)
    await notices.record_alerts(conn, alerts, now)
    await outbox.append(conn, schema, events)
    return found
