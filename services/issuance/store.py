"""Issuance's tables: orders, tickets and its copy of payment outcomes. All SQL of the service lives here."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.issuance.domain.join import KnownPayment
from services.issuance.domain.request import IssueOrder
from shared.contracts.common import IssueStatus
from shared.contracts.issuance import TicketsIssued


@dataclass(frozen=True)
class OrderRow:
    merchant_id: str
    ticket_trade_no: str
    status: IssueStatus
    request_id: str
    request_message_id: uuid.UUID
    platform_id: str | None
    signer_id: str
    order: IssueOrder
    deadline: datetime


async def lock_order_key(conn: asyncpg.Connection, merchant_id: str, trade_no: str) -> None:
    """Serialise the request/payment join for one order across transactions and instances."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"issuance/{merchant_id}/{trade_no}")


async def insert_order(
    conn: asyncpg.Connection,
    order: IssueOrder,
    *,
    request_id: str,
    message_id: uuid.UUID,
    platform_id: str | None,
    signer_id: str,
    deadline: datetime,
    now: datetime,
) -> OrderRow | None:
    """The new order, waiting (status 3); None when the order number was already used (a duplicate request)."""
    row = await conn.fetchrow(
        """
        INSERT INTO orders (merchant_id, ticket_trade_no, paid, status, request_id, request_message_id,
                            platform_id, signer_id, order_json, total_face_value, deadline, created_at, updated_at)
        VALUES ($1, $2, $3, 3, $4, $5, $6, $7, $8, $9, $10, $11, $11)
        ON CONFLICT DO NOTHING
        RETURNING *
        """,
        order.merchant_id,
        order.trade_no,
        order.paid,
        request_id,
        message_id,
        platform_id,
        signer_id,
        order.model_dump_json(),
        order.pickup_total,
        deadline,
        now,
    )
    return None if row is None else _order_row(row)


async def waiting_order(conn: asyncpg.Connection, merchant_id: str, trade_no: str) -> OrderRow | None:
    row = await conn.fetchrow(
        "SELECT * FROM orders WHERE merchant_id = $1 AND ticket_trade_no = $2 AND status = 3 FOR UPDATE",
        merchant_id,
        trade_no,
    )
    return None if row is None else _order_row(row)


async def overdue_orders(conn: asyncpg.Connection, now: datetime, limit: int) -> list[OrderRow]:
    rows = await conn.fetch(
        "SELECT * FROM orders WHERE status = 3 AND deadline <= $1 ORDER BY deadline LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [_order_row(r) for r in rows]


def _order_row(row: asyncpg.Record) -> OrderRow:
    return OrderRow(
        merchant_id=row["merchant_id"],
        ticket_trade_no=row["ticket_trade_no"],
        status=IssueStatus(row["status"]),
        request_id=row["request_id"],
        request_message_id=row["request_message_id"],
        platform_id=row["platform_id"],
        signer_id=row["signer_id"],
        order=IssueOrder.model_validate_json(row["order_json"]),
        deadline=row["deadline"],
    )


async def finish_order(
    conn: asyncpg.Connection,
    merchant_id: str,
    trade_no: str,
    status: IssueStatus,
    rtn_code: int,
    remark: str,
    now: datetime,
) -> None:
    await conn.execute(
        "UPDATE orders SET status = $3, rtn_code = $4, remark = $5, updated_at = $6"
        " WHERE merchant_id = $1 AND ticket_trade_no = $2",
        merchant_id,
        trade_no,
        int(status),
        rtn_code,
        remark,
        now,
    )


async def insert_tickets(conn: asyncpg.Connection, issued: TicketsIssued) -> bool:
    """Store the tickets; False (and nothing stored) if any TicketNo or WriteOffNo already exists."""
    tickets = issued.tickets
    stored = await conn.fetch(
        """
        INSERT INTO tickets (ticket_no, write_off_no, merchant_id, ticket_trade_no, ticket_type, item_no,
                             face_value, start_date, expire_date)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::text[],
                             $7::integer[], $8::date[], $9::date[])
        ON CONFLICT DO NOTHING
        RETURNING ticket_no
        """,
        [t.ticket_no for t in tickets],
        [t.write_off_no for t in tickets],
        [issued.merchant_id] * len(tickets),
        [issued.ticket_trade_no] * len(tickets),
        [int(t.ticket_type) for t in tickets],
        [t.item_no for t in tickets],
        [t.face_value for t in tickets],
        [t.start_date for t in tickets],
        [t.expire_date for t in tickets],
    )
    if len(stored) == len(tickets):
        return True
    # A drawn code already exists (or repeats within the order): undo this attempt; the caller redraws.
    await conn.execute("DELETE FROM tickets WHERE ticket_no = ANY($1::text[])", [r["ticket_no"] for r in stored])
    return False


async def known_payment(conn: asyncpg.Connection, merchant_id: str, trade_no: str) -> KnownPayment | None:
    row = await conn.fetchrow(
        "SELECT * FROM payments WHERE merchant_id = $1 AND merchant_trade_no = $2", merchant_id, trade_no
    )
    if row is None:
        return None
    return KnownPayment(row["confirmed"], row["trade_no"], row["amount"], row["payment_date"], row["rejection"])


async def record_confirmed(
    conn: asyncpg.Connection,
    merchant_id: str,
    trade_no: str,
    paid_trade_no: str,
    amount: int,
    paid_at: datetime,
    now: datetime,
) -> None:
    """The first confirmed payment wins; payment-confirmation already refuses conflicting ones."""
    await conn.execute(
        """
        INSERT INTO payments (merchant_id, merchant_trade_no, confirmed, trade_no, amount, payment_date, updated_at)
        VALUES ($1, $2, true, $3, $4, $5, $6)
        ON CONFLICT (merchant_id, merchant_trade_no) DO UPDATE
            SET confirmed = true, trade_no = $3, amount = $4, payment_date = $5, updated_at = $6
            WHERE NOT payments.confirmed
        """,
        merchant_id,
        trade_no,
        paid_trade_no,
        amount,
        paid_at,
        now,
    )


async def record_rejection(
    conn: asyncpg.Connection, merchant_id: str, trade_no: str, reason: str, now: datetime
) -> None:
    await conn.execute(
        """
        INSERT INTO payments (merchant_id, merchant_trade_no, rejection, updated_at) VALUES ($1, $2, $3, $4)
        ON CONFLICT (merchant_id, merchant_trade_no) DO UPDATE SET rejection = $3, updated_at = $4
        """,
        merchant_id,
        trade_no,
        reason,
        now,
    )
