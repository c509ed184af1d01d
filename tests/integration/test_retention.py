"""Bounded storage: old inbox keys and old published outbox rows are pruned in bounded batches; what is recent, and
what is not published yet, stays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from shared.infra.retention import PRUNE_BATCH, prune_step

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEEP = timedelta(days=35)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=1)


async def fill(conn: asyncpg.Connection, old_inbox: int, old_published: int) -> None:
    await conn.execute(
        "INSERT INTO inbox (message_id, processed_at) SELECT gen_random_uuid(), $1 FROM generate_series(1, $2)",
        OLD,
        old_inbox,
    )
    await conn.execute("INSERT INTO inbox (message_id, processed_at) VALUES ($1, $2)", uuid.uuid4(), RECENT)
    rows = [(OLD, OLD)] * old_published + [(OLD, None), (RECENT, RECENT)]  # an old row the relay never sent; a new one
    await conn.executemany(
        "INSERT INTO outbox (event_id, topic, key, value, event_type, created_at, published_at)"
        " VALUES (gen_random_uuid(), 't', 'k', 'v', 'E', $1, $2)",
        rows,
    )


async def test_old_keys_and_published_rows_go_in_bounded_batches_and_the_rest_stays(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, _ = messaging_schema
    async with pool.acquire() as conn:
        await fill(conn, old_inbox=PRUNE_BATCH + 10, old_published=3)

    assert await prune_step(pool, KEEP, NOW) is True  # a full batch of inbox keys: more is due
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 11  # 10 old left for the next batch, 1 recent
    assert await prune_step(pool, KEEP, NOW) is False

    assert await pool.fetchval("SELECT count(*) FROM inbox") == 1
    left = await pool.fetch("SELECT created_at, published_at FROM outbox ORDER BY seq")
    assert [(r["created_at"], r["published_at"]) for r in left] == [(OLD, None), (RECENT, RECENT)]


async def test_nothing_recent_is_touched(messaging_schema: tuple[asyncpg.Pool, str]) -> None:
    pool, _ = messaging_schema
    async with pool.acquire() as conn:
        await fill(conn, old_inbox=0, old_published=0)
    assert await prune_step(pool, KEEP, NOW) is False
    assert (await pool.fetchval("SELECT count(*) FROM inbox"), await pool.fetchval("SELECT count(*) FROM outbox")) == (
        1,
        2,
    )
