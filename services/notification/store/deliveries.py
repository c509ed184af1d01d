"""The notifications to send (an outbox towards the merchants): added with the event's inbox claim, claimed by the
delivery loop with a lease, and settled by each attempt's outcome."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.notification.domain.notices import Kind, Notice
from services.notification.inbound import OrderTargets
from shared.ecticket.envelope import serialize_data


@dataclass(frozen=True)
class Due:
    """A claimed notification, with its order's targets when TicketsIssued has told them."""

    notification_id: uuid.UUID
    kind: Kind
    merchant_id: str
    ticket_trade_no: str
    data: str
    attempts: int
    first_attempt_at: datetime | None
    created_at: datetime
    order: OrderTargets | None


async def add(conn: asyncpg.Connection, notices: Sequence[tuple[Notice, datetime, datetime]], now: datetime) -> None:
    """`notices` with their event time and first due time; one already there (a repeated event) is kept as is."""
    if not notices:
        return
    await conn.execute(
        """
        INSERT INTO deliveries (notification_id, kind, merchant_id, ticket_trade_no, data, event_at, created_at,
                                next_attempt_at)
        SELECT i, k, m, t, d, e, $7, n
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $8::timestamptz[])
             AS x(i, k, m, t, d, e, n)
        ON CONFLICT (notification_id) DO NOTHING
        """,
        [n.notification_id for n, _, _ in notices],
        [n.kind.value for n, _, _ in notices],
        [n.merchant_id for n, _, _ in notices],
        [n.ticket_trade_no for n, _, _ in notices],
        [serialize_data(n.data) for n, _, _ in notices],  # sealed as stored, byte for byte
        [at for _, at, _ in notices],
        now,
        [due for _, _, due in notices],
    )


async def due(conn: asyncpg.Connection, now: datetime, busy: Sequence[str], limit: int) -> list[Due]:
    """Lock up to `limit` due notifications of merchants not in `busy` (SKIP LOCKED: another instance's are left
    to it). The caller leases the ones it takes (`lease`) in the same transaction."""
    rows = await conn.fetch(
        """
        SELECT d.notification_id, d.kind, d.merchant_id, d.ticket_trade_no, d.data, d.attempts, d.first_attempt_at,
               d.created_at, o.merchant_id IS NOT NULL AS order_known, o.platform_id, o.refund_notify_url,
               o.use_status_notify_url
        FROM deliveries d
        LEFT JOIN orders o ON o.merchant_id = d.merchant_id AND o.ticket_trade_no = d.ticket_trade_no
        WHERE d.status = 'pending' AND d.next_attempt_at <= $1 AND d.merchant_id <> ALL($2::text[])
        ORDER BY d.next_attempt_at
        LIMIT $3
        FOR UPDATE OF d SKIP LOCKED
        """,
        now,
        list(busy),
        limit,
    )
    return [_due(r) for r in rows]


async def lease(conn: asyncpg.Connection, ids: Sequence[uuid.UUID], until: datetime) -> None:
    """Not due again before `until`: the attempt in flight settles it first, or, if this process dies, it is sent
    again then (the merchant drops the repeat by its NotificationID)."""
    if ids:
        await conn.execute(
            "UPDATE deliveries SET next_attempt_at = $2 WHERE notification_id = ANY($1::uuid[])", list(ids), until
        )


@dataclass(frozen=True)
class Settled:
    notification_id: uuid.UUID
    status: str  # pending (to retry), delivered, refused, failed
    attempt_at: datetime
    first_attempt_at: datetime
    next_attempt_at: datetime | None  # pending only
    error: str | None


async def settle(conn: asyncpg.Connection, outcomes: Sequence[Settled]) -> None:
    """Record attempts' outcomes, many in one statement (the delivery loop commits them in groups)."""
    if not outcomes:
        return
    await conn.execute(
        """
        UPDATE deliveries d
        SET status = x.status, attempts = d.attempts + 1, last_attempt_at = x.at,
            first_attempt_at = COALESCE(d.first_attempt_at, x.first_at),
            next_attempt_at = COALESCE(x.next_at, d.next_attempt_at),
            delivered_at = CASE WHEN x.status = 'delivered' THEN x.at ELSE d.delivered_at END,
            last_error = x.error
        FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::timestamptz[], $6::text[])
             AS x(id, status, at, first_at, next_at, error)
        WHERE d.notification_id = x.id
        """,
        [o.notification_id for o in outcomes],
        [o.status for o in outcomes],
        [o.attempt_at for o in outcomes],
        [o.first_attempt_at for o in outcomes],
        [o.next_attempt_at for o in outcomes],
        [o.error for o in outcomes],
    )


def _due(r: asyncpg.Record) -> Due:
    order = (
        OrderTargets(
            r["merchant_id"], r["ticket_trade_no"], r["platform_id"], r["refund_notify_url"], r["use_status_notify_url"]
        )
        if r["order_known"]
        else None
    )
    return Due(
        r["notification_id"],
        Kind(r["kind"]),
        r["merchant_id"],
        r["ticket_trade_no"],
        r["data"],
        r["attempts"],
        r["first_attempt_at"],
        r["created_at"],
        order,
    )
