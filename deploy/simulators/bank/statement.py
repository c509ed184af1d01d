"""The bank's statement of the escrow account: each movement booked once (by line id) onto an open day and published
as a `BankStatementLine`; each day closed once with a `BankStatementClosed` carrying its count and totals.

Booking and closing take one lock (`statement_lock`), so a closing counts exactly the lines booked onto its day: a
line booked after the closing goes onto the next open day. Whoever books (the reconciliation-file reader, the
gateway's confirmed transfers, the CLI's extra credit or on-demand closing) gets the events to put in its outbox in
the same transaction; event ids derive from the line id or the day, so doing it twice publishes nothing new.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg

from deploy.simulators.bank.names import PRODUCER
from shared.contracts.bank import BankStatementClosed, BankStatementLine, StatementDirection
from shared.contracts.events import Outgoing
from shared.ids import derived_id


@dataclass(frozen=True)
class Movement:
    """Money the bank moved, to be booked onto the statement of `day` (or the next open one)."""

    line_id: str
    direction: StatementDirection
    amount: int
    day: date
    booked_at: datetime
    merchant_id: str | None = None
    merchant_trade_no: str | None = None
    trade_no: str | None = None
    instruction_id: uuid.UUID | None = None


async def statement_lock(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('escrow_bank/statement'))")


async def ensure_day(conn: asyncpg.Connection, day: date) -> None:
    """The day has a statement (open, unless it was closed already): even a day without movements is closed."""
    await conn.execute("INSERT INTO statement_days (statement_date) VALUES ($1) ON CONFLICT DO NOTHING", day)


async def open_day(conn: asyncpg.Connection, day: date) -> date:
    """The statement a movement of `day` goes onto (call under the statement lock): that day's, or, once it is
    closed, the first open one after it (today's, normally), or the day after the last one closed."""
    await ensure_day(conn, day)
    if await conn.fetchval("SELECT closed_at IS NULL FROM statement_days WHERE statement_date = $1", day):
        return day
    later: date | None = await conn.fetchval(
        "SELECT min(statement_date) FROM statement_days WHERE statement_date > $1 AND closed_at IS NULL", day
    )
    if later is not None:
        return later
    last: date = await conn.fetchval("SELECT max(statement_date) FROM statement_days")
    return await open_day(conn, last + timedelta(days=1))


async def book(conn: asyncpg.Connection, movements: Sequence[Movement]) -> list[Outgoing]:
    """Book the movements not booked yet; the events of those booked now."""
    if not movements:
        return []
    await statement_lock(conn)
    days = {d: await open_day(conn, d) for d in sorted({m.day for m in movements})}
    fresh = await conn.fetch(
        """
        INSERT INTO statement_lines (line_id, statement_date, direction, amount, booked_at, merchant_id,
                                     merchant_trade_no, trade_no, instruction_id)
        SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::bigint[], $5::timestamptz[], $6::text[],
                             $7::text[], $8::text[], $9::uuid[])
        ON CONFLICT DO NOTHING RETURNING line_id
        """,
        [m.line_id for m in movements],
        [days[m.day] for m in movements],
        [m.direction.value for m in movements],
        [m.amount for m in movements],
        [m.booked_at for m in movements],
        [m.merchant_id for m in movements],
        [m.merchant_trade_no for m in movements],
        [m.trade_no for m in movements],
        [m.instruction_id for m in movements],
    )
    booked = {r["line_id"] for r in fresh}
    return [line_event(m, days[m.day]) for m in movements if m.line_id in booked]


def line_event(m: Movement, statement_date: date) -> Outgoing:
    event = BankStatementLine(
        statement_date=statement_date,
        line_id=m.line_id,
        direction=m.direction,
        amount=m.amount,
        booked_at=m.booked_at,
        merchant_id=m.merchant_id,
        merchant_trade_no=m.merchant_trade_no,
        trade_no=m.trade_no,
        instruction_id=m.instruction_id,
    )
    cause = f"escrow-bank/statement/{m.line_id}"
    return PRODUCER.event(event, derived_id(cause, "line"), m.booked_at, causation_id=cause)


async def close(conn: asyncpg.Connection, day: date, now: datetime) -> Outgoing | None:
    """Close the day's statement (its lines are complete); None if it was closed already."""
    await statement_lock(conn)
    await conn.execute("INSERT INTO statement_days (statement_date) VALUES ($1) ON CONFLICT DO NOTHING", day)
    row = await conn.fetchrow(
        """
        UPDATE statement_days d SET closed_at = $2, lines = t.lines, credits_total = t.credits, debits_total = t.debits
        FROM (SELECT count(*) AS lines,
                     coalesce(sum(amount) FILTER (WHERE direction = 'credit'), 0)::bigint AS credits,
                     coalesce(sum(amount) FILTER (WHERE direction = 'debit'), 0)::bigint AS debits
              FROM statement_lines WHERE statement_date = $1) t
        WHERE d.statement_date = $1 AND d.closed_at IS NULL
        RETURNING d.lines, d.credits_total, d.debits_total
        """,
        day,
        now,
    )
    if row is None:
        return None
    event = BankStatementClosed(
        statement_date=day,
        lines=row["lines"],
        credits_total=row["credits_total"],
        debits_total=row["debits_total"],
        closed_at=now,
    )
    cause = f"escrow-bank/statement/{day.isoformat()}"
    return PRODUCER.event(event, derived_id(cause, "closed"), now, causation_id=cause)


async def open_days_before(conn: asyncpg.Connection, day: date) -> list[date]:
    rows = await conn.fetch(
        "SELECT statement_date FROM statement_days WHERE closed_at IS NULL AND statement_date < $1 ORDER BY 1", day
    )
    return [r["statement_date"] for r in rows]
