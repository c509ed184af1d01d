"""The delivery log: every attempt to notify a merchant, kept per merchant."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class Attempt:
    notification_id: uuid.UUID
    merchant_id: str
    attempt: int  # 1 for the first
    at: datetime
    url: str | None
    outcome: str  # delivered, failed, refused
    http_status: int | None
    detail: str
    duration_ms: int


async def append(conn: asyncpg.Connection, attempts: Sequence[Attempt]) -> None:
    if not attempts:
        return
    await conn.execute(
        """
        INSERT INTO delivery_log (notification_id, merchant_id, attempt, at, url, outcome, http_status, detail,
                                  duration_ms)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::text[], $6::text[], $7::int[],
                             $8::text[], $9::int[])
        """,
        [a.notification_id for a in attempts],
        [a.merchant_id for a in attempts],
        [a.attempt for a in attempts],
        [a.at for a in attempts],
        [a.url for a in attempts],
        [a.outcome for a in attempts],
        [a.http_status for a in attempts],
        [a.detail for a in attempts],
        [a.duration_ms for a in attempts],
    )


async def of_merchant(conn: asyncpg.Connection, merchant_id: str, limit: int) -> list[Attempt]:
    """The merchant's latest attempts, newest first."""
    rows = await conn.fetch(
        """
        SELECT notification_id, merchant_id, attempt, at, url, outcome, http_status, detail, duration_ms
        FROM delivery_log WHERE merchant_id = $1 ORDER BY at DESC, id DESC LIMIT $2
        """,
        merchant_id,
        limit,
    )
    return [Attempt(**dict(r)) for r in rows]


async def of_notification(conn: asyncpg.Connection, notification_id: uuid.UUID) -> list[Attempt]:
    rows = await conn.fetch(
        """
        SELECT notification_id, merchant_id, attempt, at, url, outcome, http_status, detail, duration_ms
        FROM delivery_log WHERE notification_id = $1 ORDER BY id
        """,
        notification_id,
    )
    return [Attempt(**dict(r)) for r in rows]
