"""Issuance's tables: orders (request and payment halves in one row; a payment no request claimed in time is
given up in its row), tickets, and the sweep clock. All SQL of the service.

Every write is set-wise: one statement per batch, whatever the batch size."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.issuance.domain.join import KnownPayment
from services.issuance.domain.orders import NewOrder, OrderRow, UsedOrder
from services.issuance.domain.request import IssueOrder
from shared.contracts.common import IssueStatus
from shared.contracts.issuance import TicketsIssued
from shared.contracts.payments import PaymentConfirmed


@dataclass(frozen=True)
class Outcome:
    """How a decided order ends: issued or failed, with its RtnCode and remark."""

    merchant_id: str
    ticket_trade_no: str
    status: IssueStatus
    rtn_code: int
    remark: str


def _order_row(row: asyncpg.Record) -> OrderRow:
    payment = None
    if row["payment_confirmed"] or row["payment_rejection"]:
        payment = KnownPayment(
            row["payment_confirmed"],
            row["payment_trade_no"],
            row["payment_amount"],
            row["payment_date"],
            row["payment_rejection"],
            row["payment_escrow_days"],
        )
    return OrderRow(
        merchant_id=row["merchant_id"],
        ticket_trade_no=row["ticket_trade_no"],
        status=None if row["status"] is None else IssueStatus(row["status"]),
        request_id=row["request_id"] or "",
        request_message_id=row["request_message_id"] or uuid.UUID(int=0),
        platform_id=row["platform_id"],
        signer_id=row["signer_id"] or "",
        order=None if row["order_json"] is None else IssueOrder.model_validate_json(row["order_json"]),
        deadline=row["deadline"],
        payment=payment,
        claim_deadline=row["claim_deadline"],
        door=row["door"],
    )


async def add_requests(conn: asyncpg.Connection, new: Sequence[NewOrder], now: datetime) -> list[OrderRow]:
    """Attach requests to their order rows; a key whose row has a status already is not returned (a duplicate: its
    request half exists, or its unclaimed payment was given up). Keys must be distinct; sorted so concurrent
    batches lock rows in the same order."""
    new = sorted(new, key=lambda n: n.key)
    rows = await conn.fetch(
        """
        INSERT INTO orders AS o (merchant_id, ticket_trade_no, status, paid, request_id, request_message_id,
                                 platform_id, signer_id, order_json, total_face_value, deadline, created_at, updated_at,
                                 door)
        SELECT m, t, 3, p, r, mid, pl, s, j, f, d, $11, $11, dr
        FROM unnest($1::text[], $2::text[], $3::bool[], $4::text[], $5::uuid[], $6::text[], $7::text[],
                    $8::jsonb[], $9::int[], $10::timestamptz[], $12::text[]) WITH ORDINALITY
             AS u(m, t, p, r, mid, pl, s, j, f, d, dr, i)
        ORDER BY i
        ON CONFLICT (merchant_id, ticket_trade_no) DO UPDATE
            SET status = 3, paid = EXCLUDED.paid, request_id = EXCLUDED.request_id,
                request_message_id = EXCLUDED.request_message_id, platform_id = EXCLUDED.platform_id,
                signer_id = EXCLUDED.signer_id, order_json = EXCLUDED.order_json,
                total_face_value = EXCLUDED.total_face_value, deadline = EXCLUDED.deadline, updated_at = $11,
                door = EXCLUDED.door
            WHERE o.status IS NULL
        RETURNING *
        """,
        [n.order.merchant_id for n in new],
        [n.order.trade_no for n in new],
        [n.order.paid for n in new],
        [n.request_id for n in new],
        [n.message_id for n in new],
        [n.platform_id for n in new],
        [n.signer_id for n in new],
        [n.order.model_dump_json() for n in new],
        [n.order.pickup_total for n in new],
        [n.deadline for n in new],
        now,
        [n.door for n in new],
    )
    return [_order_row(r) for r in rows]


async def add_payments(
    conn: asyncpg.Connection, paid: Sequence[PaymentConfirmed], now: datetime, claim_wait: timedelta
) -> list[OrderRow]:
    """Record confirmed payments (the first one of an order wins); returns the rows that changed. Keys distinct.

    A payment waits for its Issue request until now + `claim_wait` (the claim deadline, used only while the row
    has no request); its escrow days, as the payment event states them, fix the escrow end."""
    paid = sorted(paid, key=lambda p: (p.merchant_id, p.merchant_trade_no))
    rows = await conn.fetch(
        """
        INSERT INTO orders AS o (merchant_id, ticket_trade_no, payment_confirmed, payment_trade_no, payment_amount,
                                 payment_date, payment_escrow_days, claim_deadline, created_at, updated_at)
        SELECT m, t, true, n, a, d, e, $7, $8, $8
        FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::timestamptz[], $6::int[]) WITH ORDINALITY
             AS u(m, t, n, a, d, e, i)
        ORDER BY i
        ON CONFLICT (merchant_id, ticket_trade_no) DO UPDATE
            SET payment_confirmed = true, payment_trade_no = EXCLUDED.payment_trade_no,
                payment_amount = EXCLUDED.payment_amount, payment_date = EXCLUDED.payment_date,
                payment_escrow_days = EXCLUDED.payment_escrow_days, claim_deadline = EXCLUDED.claim_deadline,
                updated_at = $8
            WHERE NOT o.payment_confirmed
        RETURNING *
        """,
        [p.merchant_id for p in paid],
        [p.merchant_trade_no for p in paid],
        [p.trade_no for p in paid],
        [p.amount for p in paid],
        [p.payment_date for p in paid],
        [p.escrow_days for p in paid],
        now + claim_wait,
        now,
    )
    return [_order_row(r) for r in rows]


async def add_rejections(conn: asyncpg.Connection, rejected: dict[tuple[str, str], str], now: datetime) -> None:
    """Remember each order's last refused payment result (one statement for the batch)."""
    if not rejected:
        return
    await conn.execute(
        """
        INSERT INTO orders (merchant_id, ticket_trade_no, payment_rejection, created_at, updated_at)
        SELECT m, t, r, $4, $4 FROM unnest($1::text[], $2::text[], $3::text[]) AS u(m, t, r)
        ON CONFLICT (merchant_id, ticket_trade_no) DO UPDATE SET payment_rejection = EXCLUDED.payment_rejection,
                                                                 updated_at = EXCLUDED.updated_at
        """,
        [m for m, _ in rejected],
        [t for _, t in rejected],
        list(rejected.values()),
        now,
    )


async def credit_downtime(conn: asyncpg.Connection, now: datetime, usual: timedelta, catch_up: timedelta) -> timedelta:
    """Move waiting orders' deadlines (and unclaimed payments' claim deadlines) on by the time since the last sweep,
    plus `catch_up`, when that was longer than `usual`; how far (zero when it was not). The sweep clock's row lock
    serialises the instances' sweeps."""
    last: datetime | None = await conn.fetchval("SELECT swept_at FROM sweep_clock FOR UPDATE")
    await conn.execute(
        "INSERT INTO sweep_clock (swept_at) VALUES ($1)"
        " ON CONFLICT (only_row) DO UPDATE SET swept_at = GREATEST(sweep_clock.swept_at, $1)",
        now,
    )
    if last is None or now - last <= usual:
        return timedelta(0)
    credit = now - last + catch_up
    await conn.execute("UPDATE orders SET deadline = deadline + $1 WHERE status = 3", credit)
    await conn.execute(
        "UPDATE orders SET claim_deadline = claim_deadline + $1 WHERE status IS NULL AND payment_confirmed", credit
    )
    return credit


async def overdue_orders(conn: asyncpg.Connection, now: datetime, limit: int) -> list[OrderRow]:
    rows = await conn.fetch(
        "SELECT * FROM orders WHERE status = 3 AND deadline <= $1 ORDER BY deadline LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [_order_row(r) for r in rows]


async def unclaimed_payments(conn: asyncpg.Connection, now: datetime, limit: int) -> list[OrderRow]:
    """Confirmed payments no request has claimed by their deadline, locked (rows another instance holds are left
    to it; a request attaching meanwhile waits for the lock and then finds the row given up)."""
    rows = await conn.fetch(
        "SELECT * FROM orders WHERE status IS NULL AND payment_confirmed AND claim_deadline <= $1"
        " ORDER BY claim_deadline LIMIT $2 FOR UPDATE SKIP LOCKED",
        now,
        limit,
    )
    return [_order_row(r) for r in rows]


async def used_orders(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], UsedOrder]:
    """What the rows of these used order numbers hold, for the refusal of a request naming one again."""
    rows = await conn.fetch(
        "SELECT o.ticket_trade_no, o.merchant_id, o.status, o.rtn_code, o.remark, o.payment_confirmed"
        " FROM orders o JOIN unnest($1::text[], $2::text[]) AS u(m, t)"
        " ON o.merchant_id = u.m AND o.ticket_trade_no = u.t",
        [m for m, _ in keys],
        [t for _, t in keys],
    )
    return {
        (r["merchant_id"], r["ticket_trade_no"]): UsedOrder(
            r["ticket_trade_no"],
            None if r["status"] is None else IssueStatus(r["status"]),
            r["rtn_code"],
            r["remark"],
            r["payment_confirmed"],
        )
        for r in rows
    }


async def insert_tickets(conn: asyncpg.Connection, issued: Sequence[TicketsIssued]) -> set[tuple[str, str]]:
    """Store every order's tickets at once; returns the orders whose drawn codes collided (stored nothing)."""
    tickets = [(i, t) for i in issued for t in i.tickets]
    stored = await conn.fetch(
        """
        INSERT INTO tickets (ticket_no, write_off_hash, merchant_id, ticket_trade_no, ticket_type, item_no,
                             face_value, start_date, expire_date)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::smallint[], $6::text[],
                             $7::integer[], $8::date[], $9::date[])
        ON CONFLICT DO NOTHING
        RETURNING merchant_id, ticket_trade_no
        """,
        [t.ticket_no for _, t in tickets],
        [t.write_off_hash for _, t in tickets],
        [i.merchant_id for i, _ in tickets],
        [i.ticket_trade_no for i, _ in tickets],
        [int(t.ticket_type) for _, t in tickets],
        [t.item_no for _, t in tickets],
        [t.face_value for _, t in tickets],
        [t.start_date for _, t in tickets],
        [t.expire_date for _, t in tickets],
    )
    counts: dict[tuple[str, str], int] = {}
    for r in stored:
        counts[(r["merchant_id"], r["ticket_trade_no"])] = counts.get((r["merchant_id"], r["ticket_trade_no"]), 0) + 1
    collided = {
        (i.merchant_id, i.ticket_trade_no)
        for i in issued
        if counts.get((i.merchant_id, i.ticket_trade_no), 0) != len(i.tickets)
    }
    if collided:  # undo those orders' partial inserts; the caller redraws their codes
        await conn.execute(
            "DELETE FROM tickets t USING unnest($1::text[], $2::text[]) AS u(m, n)"
            " WHERE t.merchant_id = u.m AND t.ticket_trade_no = u.n",
            [m for m, _ in collided],
            [n for _, n in collided],
        )
    return collided


async def finish_orders(conn: asyncpg.Connection, outcomes: Sequence[Outcome], now: datetime) -> None:
    if not outcomes:
        return
    await conn.execute(
        """
        UPDATE orders o SET status = u.s, rtn_code = u.c, remark = u.r, updated_at = $6
        FROM unnest($1::text[], $2::text[], $3::smallint[], $4::int[], $5::text[]) AS u(m, t, s, c, r)
        WHERE o.merchant_id = u.m AND o.ticket_trade_no = u.t
        """,
        [o.merchant_id for o in outcomes],
        [o.ticket_trade_no for o in outcomes],
        [int(o.status) for o in outcomes],
        [o.rtn_code for o in outcomes],
        [o.remark for o in outcomes],
        now,
    )
