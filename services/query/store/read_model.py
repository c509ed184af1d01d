"""The `orders` and `tickets` read models: written from the domain events, read (by merchant) for the queries.

Every read takes the asking merchant's id and filters on it: another merchant's order is never loaded, so it is
answered exactly like a missing one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import asyncpg

from services.query.domain.views import Counts, OrderView, TicketChange, TicketView, status_after_failure
from shared.clock import end_of_business_day, start_of_business_day
from shared.contracts.common import IssueStatus, TicketType, UseStatus
from shared.contracts.issuance import IssueAccepted, IssueFailed, OrderDetails, TicketsIssued
from shared.contracts.redemption import TicketEvent
from shared.ecticket.write_off_codes import CodeKey


async def apply_accepted(conn: asyncpg.Connection, event: IssueAccepted, now: datetime) -> None:
    """The order is processing (Status 3), unless it was issued already (never a step back)."""
    await conn.execute(
        """
        INSERT INTO orders AS o (merchant_id, trade_no, free, platform_id, status, rtn_code, remark, issue_type,
                                 details, updated_at)
        VALUES ($1, $2, $3, $4, 3, 1, '', $5, $6, $7)
        ON CONFLICT (merchant_id, trade_no) DO UPDATE SET
            status = 3, rtn_code = 1, remark = '', free = EXCLUDED.free, platform_id = EXCLUDED.platform_id,
            issue_type = EXCLUDED.issue_type, details = EXCLUDED.details, updated_at = EXCLUDED.updated_at
        WHERE o.status <> 1
        """,
        event.merchant_id,
        event.merchant_trade_no or event.free_trade_no or event.ticket_trade_no,
        event.merchant_trade_no is None,
        event.platform_id,
        event.issue_type,
        event.details.model_dump_json(),
        now,
    )


async def apply_issued(conn: asyncpg.Connection, event: TicketsIssued, now: datetime) -> None:
    payment = event.payment
    await conn.execute(
        """
        INSERT INTO orders (merchant_id, trade_no, free, platform_id, status, rtn_code, remark, ticket_trade_no,
                            issue_type, issued_at, escrow_expiry_date, total_face_value, payment_trade_no,
                            payment_amount, payment_date, updated_at, details)
        VALUES ($1, $2, $3, $4, 1, 1, '', $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
        ON CONFLICT (merchant_id, trade_no) DO UPDATE SET
            status = 1, rtn_code = 1, remark = '', ticket_trade_no = EXCLUDED.ticket_trade_no,
            free = EXCLUDED.free, platform_id = EXCLUDED.platform_id, issue_type = EXCLUDED.issue_type,
            issued_at = EXCLUDED.issued_at, escrow_expiry_date = EXCLUDED.escrow_expiry_date,
            total_face_value = EXCLUDED.total_face_value, payment_trade_no = EXCLUDED.payment_trade_no,
            payment_amount = EXCLUDED.payment_amount, payment_date = EXCLUDED.payment_date,
            updated_at = EXCLUDED.updated_at, details = EXCLUDED.details
        """,
        event.merchant_id,
        event.merchant_trade_no or event.free_trade_no or event.ticket_trade_no,
        event.merchant_trade_no is None,
        event.platform_id,
        event.ticket_trade_no,
        event.issue_type,
        event.issued_at,
        event.escrow_expiry_date,
        event.total_face_value,
        payment.trade_no if payment else None,
        payment.amount if payment else None,
        payment.payment_date if payment else None,
        now,
        event.details.model_dump_json(),
    )
    tickets = event.tickets
    # One statement for the whole order (unnest): an order may hold thousands of tickets. A redemption event that
    # arrived first made the row already: its usage state stays, the issue-time facts are filled in.
    await conn.execute(
        """
        INSERT INTO tickets (ticket_no, write_off_hash, write_off_sealed, merchant_id, trade_no, seq, ticket_type,
                             item_no, item_name, face_value, start_date, expire_date, updated_at)
        SELECT t.ticket_no, t.write_off_hash, t.write_off_sealed, $1, $2, t.seq, t.ticket_type, t.item_no,
               t.item_name, t.face_value, t.start_date, t.expire_date, $3
        FROM unnest($4::text[], $5::text[], $13::text[], $6::int[], $7::smallint[], $8::text[], $9::text[],
                    $10::int[], $11::date[], $12::date[])
             AS t(ticket_no, write_off_hash, write_off_sealed, seq, ticket_type, item_no, item_name, face_value,
                  start_date, expire_date)
        ON CONFLICT (ticket_no) DO UPDATE SET
            seq = EXCLUDED.seq, item_no = EXCLUDED.item_no, item_name = EXCLUDED.item_name,
            start_date = EXCLUDED.start_date, expire_date = EXCLUDED.expire_date,
            write_off_sealed = EXCLUDED.write_off_sealed
        """,
        event.merchant_id,
        event.merchant_trade_no or event.free_trade_no or event.ticket_trade_no,
        now,
        [t.ticket_no for t in tickets],
        [t.write_off_hash for t in tickets],
        list(range(len(tickets))),
        [int(t.ticket_type) for t in tickets],
        [t.item_no for t in tickets],
        [t.item_name for t in tickets],
        [t.face_value for t in tickets],
        [t.start_date for t in tickets],
        [t.expire_date for t in tickets],
        [t.write_off_sealed for t in tickets],
    )


async def apply_failed(conn: asyncpg.Connection, event: IssueFailed, now: datetime) -> str | None:
    """The order number's failure, unless it was issued; the number, or None when the request named none."""
    trade_no = event.merchant_trade_no or event.free_trade_no
    if not trade_no:
        return None
    current = await conn.fetchval(
        "SELECT status FROM orders WHERE merchant_id = $1 AND trade_no = $2 FOR UPDATE", event.merchant_id, trade_no
    )
    status = status_after_failure(IssueStatus(current) if current is not None else None, event.final)
    if status is not IssueStatus.FAILED:
        return trade_no
    await conn.execute(
        """
        INSERT INTO orders (merchant_id, trade_no, free, platform_id, status, rtn_code, remark, updated_at)
        VALUES ($1, $2, $3, $4, 2, $5, $6, $7)
        ON CONFLICT (merchant_id, trade_no) DO UPDATE SET
            status = 2, rtn_code = EXCLUDED.rtn_code, remark = EXCLUDED.remark, updated_at = EXCLUDED.updated_at
        """,
        event.merchant_id,
        trade_no,
        event.merchant_trade_no is None,
        event.platform_id,
        event.rtn_code,
        event.reason[:200],
        now,
    )
    return trade_no


async def apply_ticket_changes(
    conn: asyncpg.Connection, changes: Sequence[tuple[TicketEvent, TicketChange]], now: datetime
) -> None:
    """Every change of a batch in one pipelined round trip (an expiry sweep publishes thousands), in event order.
    A row made here before its TicketsIssued is completed by `apply_issued` whichever comes first."""
    if not changes:
        return
    await conn.executemany(
        """
        INSERT INTO tickets AS t (ticket_no, write_off_hash, merchant_id, trade_no, ticket_type, face_value, status,
                                  written_off_at, refunded_at, fee, refund_amount, expired_at, escrow_released,
                                  updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, coalesce($7, 1), $8, $9, coalesce($10, 0), coalesce($11, 0), $12, $13, $16)
        ON CONFLICT (ticket_no) DO UPDATE SET
            status = coalesce($7, t.status),
            written_off_at = CASE WHEN $14 THEN NULL ELSE coalesce($8, t.written_off_at) END,
            refunded_at = CASE WHEN $15 THEN NULL ELSE coalesce($9, t.refunded_at) END,
            fee = CASE WHEN $15 THEN 0 ELSE coalesce($10, t.fee) END,
            refund_amount = CASE WHEN $15 THEN 0 ELSE coalesce($11, t.refund_amount) END,
            expired_at = coalesce($12, t.expired_at),
            escrow_released = t.escrow_released OR $13,
            updated_at = $16
        """,
        [
            (
                event.ticket_no,
                event.write_off_hash,
                event.merchant_id,
                event.merchant_trade_no or event.free_trade_no or event.ticket_trade_no,
                int(event.ticket_type),
                event.face_value,
                int(change.status) if change.status is not None else None,
                change.written_off_at,
                change.refunded_at,
                change.fee,
                change.refund_amount,
                change.expired_at,
                change.escrow_released,
                change.clear_written_off,
                change.clear_refund,
                now,
            )
            for event, change in changes
        ],
    )


async def find_order(conn: asyncpg.Connection, merchant_id: str, trade_no: str) -> OrderView | None:
    row = await conn.fetchrow("SELECT * FROM orders WHERE merchant_id = $1 AND trade_no = $2", merchant_id, trade_no)
    return order_of_row(row) if row is not None else None


async def tickets_of(
    conn: asyncpg.Connection, key: CodeKey, merchant_id: str, trade_no: str, offset: int = 0, limit: int | None = None
) -> list[TicketView]:
    rows = await conn.fetch(
        """
        SELECT * FROM tickets WHERE merchant_id = $1 AND trade_no = $2
        ORDER BY seq NULLS LAST, ticket_no OFFSET $3 LIMIT $4
        """,
        merchant_id,
        trade_no,
        offset,
        limit,
    )
    return [ticket_of_row(r, key) for r in rows]


async def counts_of(conn: asyncpg.Connection, merchant_id: str, trade_no: str) -> Counts:
    row = await conn.fetchrow(
        """
        SELECT count(*) AS total, coalesce(sum(face_value), 0) AS total_amount,
               count(*) FILTER (WHERE status = 2) AS redeemed,
               coalesce(sum(face_value) FILTER (WHERE status = 2), 0) AS redeemed_amount,
               count(*) FILTER (WHERE status = 3) AS refunded,
               coalesce(sum(refund_amount) FILTER (WHERE status = 3), 0) AS refunded_amount,
               coalesce(sum(fee) FILTER (WHERE status = 3), 0) AS refund_fees,
               count(*) FILTER (WHERE status = 1) AS unused,
               coalesce(sum(face_value) FILTER (WHERE status = 1), 0) AS unused_amount,
               count(*) FILTER (WHERE status = 4) AS expired
        FROM tickets WHERE merchant_id = $1 AND trade_no = $2
        """,
        merchant_id,
        trade_no,
    )
    return Counts(**dict(row)) if row is not None else Counts()


async def find_ticket(
    conn: asyncpg.Connection, key: CodeKey, merchant_id: str, ticket_no: str | None, write_off_no: str | None
) -> TicketView | None:
    """The merchant's ticket by TicketNo (preferred) or WriteOffNo (by its keyed hash). A row a redemption event
    made before its TicketsIssued has no sealed code yet: not found until it comes (the query waits for it)."""
    column, value = ("ticket_no", ticket_no) if ticket_no else ("write_off_hash", key.digest(write_off_no or ""))
    row = await conn.fetchrow(
        f"SELECT * FROM tickets WHERE {column} = $1 AND merchant_id = $2 AND write_off_sealed IS NOT NULL",
        value,
        merchant_id,
    )
    return ticket_of_row(row, key) if row is not None else None


async def orders_issued(conn: asyncpg.Connection, merchant_id: str, first: datetime, end: datetime) -> list[OrderView]:
    rows = await conn.fetch(
        """
        SELECT * FROM orders WHERE merchant_id = $1 AND issued_at >= $2 AND issued_at < $3
        ORDER BY issued_at, trade_no
        """,
        merchant_id,
        first,
        end,
    )
    return [order_of_row(r) for r in rows]


async def tickets_issued(
    conn: asyncpg.Connection, key: CodeKey, merchant_id: str, first: datetime, end: datetime
) -> list[tuple[OrderView, TicketView]]:
    rows = await conn.fetch(
        """
        SELECT o.*, t.ticket_no, t.write_off_sealed, t.seq, t.ticket_type, t.item_no, t.item_name, t.face_value,
               t.start_date, t.expire_date, t.status AS use_status, t.written_off_at, t.refunded_at, t.expired_at,
               t.fee, t.refund_amount
        FROM orders o JOIN tickets t ON t.merchant_id = o.merchant_id AND t.trade_no = o.trade_no
        WHERE o.merchant_id = $1 AND o.issued_at >= $2 AND o.issued_at < $3
        ORDER BY o.issued_at, o.trade_no, t.seq, t.ticket_no
        """,
        merchant_id,
        first,
        end,
    )
    return [(order_of_row(r), ticket_of_row(r, key, status_column="use_status")) for r in rows]


def order_of_row(row: asyncpg.Record) -> OrderView:
    return OrderView(
        merchant_id=row["merchant_id"],
        trade_no=row["trade_no"],
        free=row["free"],
        platform_id=row["platform_id"],
        status=IssueStatus(row["status"]),
        rtn_code=row["rtn_code"],
        remark=row["remark"],
        ticket_trade_no=row["ticket_trade_no"],
        issue_type=row["issue_type"],
        issued_at=row["issued_at"],
        escrow_expiry_date=row["escrow_expiry_date"],
        total_face_value=row["total_face_value"],
        payment_trade_no=row["payment_trade_no"],
        details=OrderDetails.model_validate_json(row["details"]),
    )


def ticket_of_row(row: asyncpg.Record, key: CodeKey, status_column: str = "status") -> TicketView:
    """The view the answers are built from: the WriteOffNo opened for its own merchant ("" before TicketsIssued)."""
    sealed = row["write_off_sealed"]
    return TicketView(
        ticket_no=row["ticket_no"],
        write_off_no=key.open(row["ticket_no"], sealed) if sealed is not None else "",
        trade_no=row["trade_no"],
        ticket_type=TicketType(row["ticket_type"]),
        item_no=row["item_no"],
        item_name=row["item_name"],
        face_value=row["face_value"],
        start_date=row["start_date"],
        expire_date=row["expire_date"],
        status=UseStatus(row[status_column]),
        written_off_at=row["written_off_at"],
        refunded_at=row["refunded_at"],
        expired_at=row["expired_at"],
        fee=row["fee"],
        refund_amount=row["refund_amount"],
    )


def day_bounds(first: date, last: date) -> tuple[datetime, datetime]:
    """[start of `first`, end of `last`) in Asia/Taipei, as UTC instants."""
    return start_of_business_day(first), end_of_business_day(last)
