"""The payout run's reads (what is due as of a business day, transfer history) and its run records."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from services.escrow_settlement.domain.accounts import Account, AccountKind
from services.escrow_settlement.domain.journal import EntryKind
from services.escrow_settlement.domain.state import TransferBook
from services.escrow_settlement.store.codec import transfer_book_of
from services.escrow_settlement.store.journal import later_movements

DUE_KINDS = (AccountKind.MERCHANT_PAYABLE, AccountKind.MERCHANT_FEE_INCOME, AccountKind.CONSUMER_REFUND_PAYABLE)
# Entries of our own transfers count whatever their date: money sent under a later day's run is gone already.
TRANSFER_KINDS = tuple(
    k.value
    for k in (EntryKind.PAYOUT_SENT, EntryKind.PAYOUT_RETURNED, EntryKind.REFUND_SENT, EntryKind.REFUND_RETURNED)
)


async def merchants_with_accounts(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch(
        "SELECT DISTINCT merchant_id FROM accounts WHERE kind = ANY($1::text[]) ORDER BY merchant_id",
        [k.value for k in DUE_KINDS],
    )
    return [r["merchant_id"] for r in rows]


async def due_as_of(conn: asyncpg.Connection, merchant_id: str, day: date) -> dict[Account, int]:
    """Raw balances of the merchant's payable accounts as of the end of `day`: today's balance minus the
    movements dated later, except transfers (so a rerun of an old day never pays what a later run paid)."""
    rows = await conn.fetch(
        "SELECT kind, owner, balance FROM accounts WHERE merchant_id = $1 AND kind = ANY($2::text[]) AND balance <> 0",
        merchant_id,
        [k.value for k in DUE_KINDS],
    )
    current = {Account(AccountKind(r["kind"]), r["owner"]): r["balance"] for r in rows}
    later = await later_movements(conn, merchant_id, DUE_KINDS, day, TRANSFER_KINDS)
    due = {a: current.get(a, 0) - later.get(a, 0) for a in current.keys() | later.keys()}
    return {a: amount for a, amount in due.items() if amount}


async def transfer_history(conn: asyncpg.Connection, subjects: Iterable[str]) -> dict[uuid.UUID, TransferBook]:
    rows = await conn.fetch(
        "SELECT instruction_id, book FROM transfers WHERE subject = ANY($1::text[])", list(subjects)
    )
    return {r["instruction_id"]: transfer_book_of(r["book"]) for r in rows}


async def quarantined_subjects(conn: asyncpg.Connection, merchant_id: str) -> list[str]:
    """The merchant's quarantined orders or transfers, and a ledger-wide quarantine (merchant `*`)."""
    rows = await conn.fetch(
        "SELECT subject FROM quarantine WHERE merchant_id = $1 OR merchant_id = '*' ORDER BY subject", merchant_id
    )
    return [r["subject"] for r in rows]


async def request_run(
    conn: asyncpg.Connection, day: date, by: str, now: datetime, merchant_ids: Sequence[str] | None = None
) -> int:
    """An operator's run (the service carries it out); `merchant_ids` limits it to some merchants."""
    run_id: int = await conn.fetchval(
        "INSERT INTO payout_runs (business_date, merchant_ids, requested_by, requested_at) VALUES ($1, $2, $3, $4)"
        " RETURNING run_id",
        day,
        None if merchant_ids is None else list(merchant_ids),
        by,
        now,
    )
    return run_id


async def request_daily_run(conn: asyncpg.Connection, day: date, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO payout_runs (business_date, requested_by, requested_at) VALUES ($1, 'timer', $2)"
        " ON CONFLICT DO NOTHING",
        day,
        now,
    )


async def next_open_run(conn: asyncpg.Connection) -> tuple[int, date, list[str] | None] | None:
    row = await conn.fetchrow(
        "SELECT run_id, business_date, merchant_ids FROM payout_runs WHERE finished_at IS NULL ORDER BY run_id LIMIT 1"
    )
    return None if row is None else (row["run_id"], row["business_date"], row["merchant_ids"])


async def claim_open_run(conn: asyncpg.Connection) -> tuple[int, date, list[str] | None] | None:
    """The oldest open run, claimed for this connection's session; None when there is none, or when another instance
    is carrying it out (the runs are carried out in order, so the next one waits).

    Unclaimed, two instances carried out the same run at once: each paid the merchants the other had not reached yet
    (the money was right: a payout's cause is the run's day, so nothing is paid twice) and each wrote its own part as
    the run's summary, the last one over the other's. The claim is a session advisory lock, so an instance killed
    in the middle of a run loses it with its connection and another one finishes the run."""
    run = await next_open_run(conn)
    if run is None or not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", _run_lock(run[0])):
        return None
    if await conn.fetchval("SELECT finished_at IS NULL FROM payout_runs WHERE run_id = $1", run[0]):
        return run
    await release_run(conn, run[0])  # finished by another instance between the two reads
    return None


async def release_run(conn: asyncpg.Connection, run_id: int) -> None:
    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", _run_lock(run_id))


def _run_lock(run_id: int) -> str:
    return f"escrow_settlement/payout_run/{run_id}"


async def latest_run_day(conn: asyncpg.Connection) -> date | None:
    day: date | None = await conn.fetchval("SELECT max(business_date) FROM payout_runs WHERE requested_by = 'timer'")
    return day


async def finish_run(conn: asyncpg.Connection, run_id: int, summary: dict[str, Any], now: datetime) -> None:
    await conn.execute(
        "UPDATE payout_runs SET finished_at = $2, summary = $3::jsonb WHERE run_id = $1",
        run_id,
        now,
        json.dumps(summary),
    )


async def run_summary(conn: asyncpg.Connection, run_id: int) -> dict[str, Any] | None:
    """The summary of a finished run, None while it is still open."""
    text = await conn.fetchval("SELECT summary FROM payout_runs WHERE run_id = $1 AND finished_at IS NOT NULL", run_id)
    return None if text is None else dict(json.loads(text))


async def request_sandbox_run(conn: asyncpg.Connection, merchant_id: str, day: date, now: datetime) -> None:
    """The run of one sandbox merchant whose test clock ended `day` (once, whichever instance asks first)."""
    await conn.execute(
        "INSERT INTO payout_runs (business_date, merchant_ids, requested_by, requested_at)"
        " VALUES ($1, ARRAY[$2::text], 'sandbox-clock', $3) ON CONFLICT DO NOTHING",
        day,
        merchant_id,
        now,
    )


async def latest_sandbox_runs(conn: asyncpg.Connection, merchant_ids: Sequence[str]) -> dict[str, date]:
    """The last day each of these merchants got a sandbox-clock run."""
    rows = await conn.fetch(
        "SELECT merchant_ids[1] AS merchant_id, max(business_date) AS day FROM payout_runs"
        " WHERE requested_by = 'sandbox-clock' AND merchant_ids[1] = ANY($1::text[]) GROUP BY 1",
        list(merchant_ids),
    )
    return {r["merchant_id"]: r["day"] for r in rows}
