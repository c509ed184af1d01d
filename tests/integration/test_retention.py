"""Bounded storage: old inbox keys and old published outbox rows are pruned in bounded batches; what is recent, and
what is not published yet, stays."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.infra.retention import PRUNE_BATCH, outbox_retention, prune_step, retention

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


async def test_published_outbox_rows_go_after_their_own_shorter_retention_while_inbox_keys_stay(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, _ = messaging_schema
    two_days_ago = NOW - timedelta(days=2)
    async with pool.acquire() as conn:
        await conn.execute("INSERT INTO inbox (message_id, processed_at) VALUES ($1, $2)", uuid.uuid4(), two_days_ago)
        await conn.execute(
            "INSERT INTO outbox (event_id, topic, key, value, event_type, created_at, published_at)"
            " VALUES (gen_random_uuid(), 't', 'k', 'v', 'E', $1, $1)",
            two_days_ago,
        )

    assert await prune_step(pool, KEEP, NOW, keep_outbox=timedelta(hours=24)) is False

    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0  # a published copy two days old: gone
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 1  # its inbox key guards for 35 days


def test_the_outbox_is_kept_a_day_by_default_and_never_longer_than_the_inbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTBOX_RETENTION_HOURS", raising=False)
    monkeypatch.delenv("MESSAGING_RETENTION_DAYS", raising=False)
    assert (retention(), outbox_retention()) == (timedelta(days=35), timedelta(hours=24))
    monkeypatch.setenv("MESSAGING_RETENTION_DAYS", "0.002")  # a benchmark's minutes
    assert outbox_retention() == retention() == timedelta(days=0.002)
