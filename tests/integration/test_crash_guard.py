"""The crash guard records where a consumer's life starts reading a partition, not every batch after it."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared.infra.crash_guard import CrashGuard
from shared.infra.database import create_pool, migrate
from shared.infra.messages import Inbound
from shared.settings import Settings
from tests.support.postgres import drop_schema

TOPIC = "guard.test"


@pytest.fixture
async def pool(infra: Settings) -> AsyncIterator[asyncpg.Pool]:
    schema = "guard_" + uuid.uuid4().hex[:8]
    await migrate(infra.database_url, schema, Path(tempfile.mkdtemp()))
    created = await create_pool(infra.database_url, schema, min_size=1, max_size=2)
    try:
        yield created
    finally:
        await created.close()
        await drop_schema(infra.database_url, schema)


def batch(first: int, last: int, partition: int = 0) -> list[Inbound]:
    return [Inbound(TOPIC, partition, o, None, b"x", 0, ()) for o in range(first, last + 1)]


async def recorded(pool: asyncpg.Pool) -> list[tuple[int, int, int, int]]:
    rows = await pool.fetch("SELECT partition, first_offset, last_offset, attempts FROM consumer_attempts ORDER BY 1")
    return [(r["partition"], r["first_offset"], r["last_offset"], r["attempts"]) for r in rows]


async def test_a_life_records_its_first_batch_and_reads_on_without_a_write_per_batch(pool: asyncpg.Pool) -> None:
    life = CrashGuard(pool, "c")
    assert await life.enter(batch(0, 9)) == set()
    assert await life.enter(batch(10, 19) + batch(0, 4, partition=1)) == set()
    # Partition 0 read on from where it was: not recorded again; partition 1 is new to this life: recorded.
    assert await recorded(pool) == [(0, 0, 9, 1), (1, 0, 4, 1)]


async def test_a_life_that_restarts_inside_the_range_its_last_life_started_reads_that_range_carefully(
    pool: asyncpg.Pool,
) -> None:
    first = CrashGuard(pool, "c")
    await first.enter(batch(0, 9))
    await first.enter(batch(10, 19))  # ... and the process dies somewhere past its first batch, before a commit
    second = CrashGuard(pool, "c")  # restarts at the committed offset, inside the first life's starting range
    assert await second.enter(batch(5, 19)) == {(TOPIC, 0)}
    # A jump of the position within a life (a rebalance gave the partition back at its committed offset) is a start.
    assert await second.enter(batch(5, 7)) == {(TOPIC, 0)}
    assert await recorded(pool) == [(0, 0, 9, 3)]


async def test_a_life_that_starts_past_the_range_of_the_last_one_starts_counting_afresh(pool: asyncpg.Pool) -> None:
    await CrashGuard(pool, "c").enter(batch(0, 9))
    assert await CrashGuard(pool, "c").enter(batch(40, 49)) == set()
    assert await recorded(pool) == [(0, 40, 49, 1)]
