"""What operators read and do: the notifications not delivered, and sending them again."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

# Refused and given up, and those still being retried after a failure.
_NOT_DELIVERED = "(status IN ('refused', 'failed') OR (status = 'pending' AND attempts > 0))"


@dataclass(frozen=True)
class Failure:
    notification_id: uuid.UUID
    merchant_id: str
    kind: str
    status: str
    attempts: int
    event_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None  # pending ones only
    last_error: str | None


async def failures(conn: asyncpg.Connection, merchant_id: str | None, limit: int) -> list[Failure]:
    rows = await conn.fetch(
        f"""
        SELECT notification_id, merchant_id, kind, status, attempts, event_at, last_attempt_at,
               CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at, last_error
        FROM deliveries
        WHERE {_NOT_DELIVERED} AND ($1::text IS NULL OR merchant_id = $1)
        ORDER BY merchant_id, created_at
        LIMIT $2
        """,
        merchant_id,
        limit,
    )
    return [Failure(**dict(r)) for r in rows]


async def redeliver(conn: asyncpg.Connection, notification_id: uuid.UUID, now: datetime) -> bool:
    """Due now, whatever its state (a delivered one too: the merchant lost it), with a new 72-hour window."""
    done = await conn.fetchval(
        """
        UPDATE deliveries SET status = 'pending', next_attempt_at = $2, first_attempt_at = NULL
        WHERE notification_id = $1 RETURNING true
        """,
        notification_id,
        now,
    )
    return bool(done)


async def redeliver_all(conn: asyncpg.Connection, merchant_id: str | None, now: datetime) -> int:
    """Every notification not delivered (of one merchant, or of all) due now, with a new 72-hour window."""
    rows = await conn.fetch(
        f"""
        UPDATE deliveries SET status = 'pending', next_attempt_at = $2, first_attempt_at = NULL
        WHERE {_NOT_DELIVERED} AND ($1::text IS NULL OR merchant_id = $1)
        RETURNING notification_id
        """,
        merchant_id,
        now,
    )
    return len(rows)
