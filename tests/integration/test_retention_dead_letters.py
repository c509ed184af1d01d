"""Bounded storage leaves dead letters alone: they are evidence until an operator resolves them, however old."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg

from shared.infra.retention import prune_step

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEEP = timedelta(days=35)


async def test_a_dead_letter_older_than_the_retention_outlives_pruning_and_stays_countable(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, _ = messaging_schema
    await pool.execute(
        'INSERT INTO dead_letters (topic, partition, "offset", value, error, received_at)'
        " SELECT 'ecticket.ingest.requests.v1', 0, n, 'not json', 'parse', $1 FROM generate_series(1, 3) AS n",
        NOW - timedelta(days=400),
    )
    await pool.execute("INSERT INTO inbox (message_id, processed_at) VALUES (gen_random_uuid(), $1)", NOW - KEEP * 2)

    assert await prune_step(pool, KEEP, NOW) is False

    assert await pool.fetchval("SELECT count(*) FROM inbox") == 0  # the same step did prune what is due
    assert await pool.fetchval("SELECT count(*) FROM dead_letters WHERE resolved_at IS NULL") == 3
