"""A payout run is carried out by one instance of escrow-settlement at a time: the others see it claimed and wait,
and a claim ends with its connection (an instance killed mid-run leaves the run to another)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import pytest

from services.escrow_settlement.store import payouts
from shared.infra.database import create_pool, migrate
from shared.settings import Settings
from tests.support.postgres import drop_schema

MIGRATIONS = Path(__file__).resolve().parents[2] / "services" / "escrow_settlement" / "migrations"
DAY = date(2026, 11, 27)


@pytest.fixture
async def ledger(infra: Settings) -> AsyncIterator[asyncpg.Pool]:
    """Settlement's tables in a schema of their own: the running platform's instances never see these runs."""
    schema = "settlement_" + uuid.uuid4().hex[:8]
    await migrate(infra.database_url, schema, MIGRATIONS)
    pool = await create_pool(infra.database_url, schema, min_size=1, max_size=3)
    try:
        yield pool
    finally:
        await pool.close()
        await drop_schema(infra.database_url, schema)


async def requested(pool: asyncpg.Pool) -> int:
    run_id: int = await pool.fetchval(
        "INSERT INTO payout_runs (business_date, requested_by, requested_at) VALUES ($1, 'test', $2) RETURNING run_id",
        DAY,
        datetime.now(UTC),
    )
    return run_id


async def test_a_run_claimed_by_one_instance_is_not_carried_out_by_another_until_released(ledger: asyncpg.Pool) -> None:
    run_id = await requested(ledger)
    async with ledger.acquire() as first, ledger.acquire() as second:
        assert await payouts.claim_open_run(first) == (run_id, DAY, None)
        assert await payouts.claim_open_run(second) is None  # claimed: the second instance waits
        await payouts.release_run(first, run_id)
        assert await payouts.claim_open_run(second) == (run_id, DAY, None)  # released unfinished: taken over
        await payouts.finish_run(second, run_id, {"payouts": 0}, datetime.now(UTC))
        await payouts.release_run(second, run_id)
        assert await payouts.claim_open_run(first) is None  # finished: nothing left to claim


async def test_a_claim_ends_with_the_connection_that_held_it(ledger: asyncpg.Pool, infra: Settings) -> None:
    run_id = await requested(ledger)
    schema = await ledger.fetchval("SELECT current_schema()")
    killed = await asyncpg.connect(infra.database_url, server_settings={"search_path": schema})
    assert await payouts.claim_open_run(killed) == (run_id, DAY, None)
    async with ledger.acquire() as other:
        assert await payouts.claim_open_run(other) is None
        killed.terminate()  # the instance dies mid-run: its session, and so its claim, ends
        for _ in range(50):
            if (claimed := await payouts.claim_open_run(other)) is not None:
                break
            await other.execute("SELECT pg_sleep(0.1)")
        assert claimed == (run_id, DAY, None)
        await payouts.release_run(other, run_id)
