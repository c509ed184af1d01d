"""The `tickets` table: loading tickets under their row locks, saving decisions, and the expiry queue (`due_at`)."""

from __future__ import annotations

import dataclasses
import functools
import uuid
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.redemption.domain import Refund, Request, Ticket, due_at
from shared.contracts.common import RefundFeeRule, TicketType, UseStatus

# Ticket's fields in declaration order: a row is decoded without the columns it does not need and builds the
# Ticket positionally (an expiry batch decodes thousands; by name it cost twice as much).
_FIELDS = [f.name for f in dataclasses.fields(Ticket)]
_COLUMNS = ", ".join(_FIELDS)
_TYPE, _FEE_RULE, _STATUS = (_FIELDS.index(name) for name in ("ticket_type", "refund_fee_rule", "status"))

# A dict lookup instead of calling the enum (EnumType.__call__ is slow, and an expiry batch decodes thousands).
_TICKET_TYPES = {int(t): t for t in TicketType}
_STATUSES = {int(s): s for s in UseStatus}


async def insert_issued(
    conn: asyncpg.Connection, issued: Sequence[tuple[uuid.UUID, Sequence[Ticket]]], now: datetime
) -> None:
    """Learn newly issued tickets, each with the id of the TicketsIssued that named it, in one statement for a
    whole batch; a ticket already known keeps its state (TicketsIssued may come twice)."""
    tickets = [t for _, some in issued for t in some]
    await conn.execute(
        """
        INSERT INTO tickets (ticket_no, write_off_hash, merchant_id, platform_id, ticket_trade_no, merchant_trade_no,
                             free_trade_no, ticket_type, item_no, item_name, face_value, start_date, expire_date,
                             escrow_expiry_date, refund_fee_rule, due_at, issued_event_id, updated_at)
        SELECT u.*, $18::timestamptz
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::smallint[], $9::text[], $10::text[], $11::integer[], $12::date[], $13::date[], $14::date[],
                    $15::jsonb[], $16::timestamptz[], $17::uuid[]) AS u
        ON CONFLICT DO NOTHING
        """,
        [t.ticket_no for t in tickets],
        [t.write_off_hash for t in tickets],
        [t.merchant_id for t in tickets],
        [t.platform_id for t in tickets],
        [t.ticket_trade_no for t in tickets],
        [t.merchant_trade_no for t in tickets],
        [t.free_trade_no for t in tickets],
        [int(t.ticket_type) for t in tickets],
        [t.item_no for t in tickets],
        [t.item_name for t in tickets],
        [t.face_value for t in tickets],
        [t.start_date for t in tickets],
        [t.expire_date for t in tickets],
        [t.escrow_expiry_date for t in tickets],
        [t.refund_fee_rule.model_dump_json() for t in tickets],
        [due_at(t) for t in tickets],
        [event_id for event_id, some in issued for _ in some],
        now,
    )


async def lock_tickets(conn: asyncpg.Connection, commands: Sequence[Request]) -> list[Ticket]:
    """The tickets these requests name (by TicketNo or WriteOffNo), locked until the transaction ends.

    One query for a whole batch. Rows are locked in ticket_no order (the sort runs before the locking), so two
    batches naming the same tickets in different orders, on two instances, queue up instead of deadlocking."""
    ticket_nos = [c.ticket_no for c in commands if isinstance(c, Refund) and c.ticket_no]
    write_off_hashes = [
        c.write_off_hash for c in commands if c.write_off_hash and not (isinstance(c, Refund) and c.ticket_no)
    ]
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM tickets WHERE ticket_no = ANY($1::text[]) OR write_off_hash = ANY($2::text[])"
        " ORDER BY ticket_no FOR UPDATE",
        ticket_nos,
        write_off_hashes,
    )
    return [_ticket(r) for r in rows]


async def lock_due(
    conn: asyncpg.Connection, horizon: datetime, limit: int, merchant_id: str | None = None
) -> list[Ticket]:
    """Up to `limit` tickets due by `horizon`, oldest first, skipping rows a request holds right now (they are
    decided by that request, which catches expiry up itself, or picked by the next sweep)."""
    if merchant_id is None:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM tickets WHERE due_at <= $1 ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            horizon,
            limit,
        )
    else:
        rows = await conn.fetch(
            f"SELECT {_COLUMNS} FROM tickets WHERE merchant_id = $3 AND due_at <= $1"
            " ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            horizon,
            limit,
            merchant_id,
        )
    return [_ticket(r) for r in rows]


async def save(conn: asyncpg.Connection, tickets: Sequence[Ticket], now: datetime) -> None:
    """Store decided tickets (locked by the caller), with their next due time."""
    if not tickets:
        return
    await conn.execute(
        """
        UPDATE tickets t
        SET status = u.status, escrow_released = u.escrow_released, written_off_at = u.written_off_at,
            refunded_at = u.refunded_at, due_at = u.due_at, updated_at = $7
        FROM unnest($1::text[], $2::smallint[], $3::boolean[], $4::timestamptz[], $5::timestamptz[],
                    $6::timestamptz[]) AS u (ticket_no, status, escrow_released, written_off_at, refunded_at, due_at)
        WHERE t.ticket_no = u.ticket_no
        """,
        [t.ticket_no for t in tickets],
        [int(t.status) for t in tickets],
        [t.escrow_released for t in tickets],
        [t.written_off_at for t in tickets],
        [t.refunded_at for t in tickets],
        [due_at(t) for t in tickets],
        now,
    )


@functools.lru_cache(maxsize=1024)
def _fee_rule(text: str) -> RefundFeeRule:
    """Parsed once per distinct rule: a merchant has a handful, an expiry batch reads thousands of rows."""
    return RefundFeeRule.model_validate_json(text)


def _ticket(row: asyncpg.Record) -> Ticket:
    """The row of `SELECT {_COLUMNS}`: Ticket's fields in order, three of them stored as plain values."""
    values = list(row)
    values[_TYPE] = _TICKET_TYPES[values[_TYPE]]
    values[_FEE_RULE] = _fee_rule(values[_FEE_RULE])
    values[_STATUS] = _STATUSES[values[_STATUS]]
    return Ticket(*values)
