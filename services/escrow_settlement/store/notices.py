"""What operations look at: exceptions, alerts, and quarantined subjects with the facts that wait behind them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import datetime

import asyncpg

from services.escrow_settlement.domain.facts import Fact
from services.escrow_settlement.domain.invariants import Violation
from services.escrow_settlement.outbound import AlertRow, ExceptionRow, exception_id
from services.escrow_settlement.store.codec import fact_json, fact_of


async def record_exceptions(conn: asyncpg.Connection, rows: Sequence[ExceptionRow], now: datetime) -> None:
    """A repeat of the same exception (same cause, kind, subject) is kept once."""
    await conn.executemany(
        "INSERT INTO ledger_exceptions (exception_id, kind, cause_id, subject, merchant_id, detail, raised_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
        [
            (exception_id(r.cause_id, r.kind, r.subject), r.kind, r.cause_id, r.subject, r.merchant_id, r.detail, now)
            for r in rows
        ],
    )


async def record_alerts(conn: asyncpg.Connection, alerts: Sequence[AlertRow], now: datetime) -> None:
    await conn.executemany(
        "INSERT INTO alerts (alert_id, kind, severity, subject, merchant_id, detail, cause_id, raised_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        [(a.alert_id, a.kind, a.severity, a.subject, a.merchant_id, a.detail, a.cause_id, now) for a in alerts],
    )


async def quarantined(conn: asyncpg.Connection, subjects: Iterable[str]) -> frozenset[str]:
    rows = await conn.fetch("SELECT subject FROM quarantine WHERE subject = ANY($1::text[])", list(subjects))
    return frozenset(r["subject"] for r in rows)


async def quarantine(
    conn: asyncpg.Connection, subject: str, merchant_id: str, violations: Sequence[Violation], now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO quarantine (subject, merchant_id, violations, since) VALUES ($1, $2, $3::jsonb, $4)"
        " ON CONFLICT DO NOTHING",
        subject,
        merchant_id,
        json.dumps([asdict(v) for v in violations]),
        now,
    )


async def divert(conn: asyncpg.Connection, facts: Sequence[tuple[str, Fact]], now: datetime) -> None:
    """Keep the facts of quarantined subjects, unapplied, for the release."""
    await conn.executemany(
        "INSERT INTO quarantined_facts (cause_id, subject, fact, received_at) VALUES ($1, $2, $3::jsonb, $4)"
        " ON CONFLICT DO NOTHING",
        [(fact.cause_id, subject, json.dumps(fact_json(fact)), now) for subject, fact in facts],
    )


async def release(conn: asyncpg.Connection, subject: str) -> list[Fact] | None:
    """Lift a quarantine: its waiting facts, in arrival order, to post again; None if it was not quarantined."""
    lifted = await conn.fetchval("DELETE FROM quarantine WHERE subject = $1 RETURNING subject", subject)
    if lifted is None:
        return None
    rows = await conn.fetch(
        "DELETE FROM quarantined_facts WHERE subject = $1 RETURNING fact, received_at, cause_id", subject
    )
    ordered = sorted(rows, key=lambda r: (r["received_at"], r["cause_id"]))
    return [fact_of(json.loads(r["fact"])) for r in ordered]
