"""The `downloads` table: when each merchant last downloaded an OrderDetail file (one a minute)."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg


async def take_slot(conn: asyncpg.Connection, merchant_id: str, now: datetime, every: timedelta) -> bool:
    """Record a download at `now` unless the last one was less than `every` ago; True when this one may go ahead.
    One statement, so two requests at once cannot both pass."""
    taken = await conn.fetchval(
        """
        INSERT INTO downloads (merchant_id, last_at) VALUES ($1, $2)
        ON CONFLICT (merchant_id) DO UPDATE SET last_at = EXCLUDED.last_at
            WHERE downloads.last_at <= EXCLUDED.last_at - $3::interval
        RETURNING true
        """,
        merchant_id,
        now,
        every,
    )
    return bool(taken)
