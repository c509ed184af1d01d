"""The gateway's replay check answers concurrent requests from one query each time, every request with its own
recorded reply (or none), and a database fault reaches every request that waited on it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from services.gateway import store
from services.gateway.replay_lookups import ReplayLookups
from shared.sandbox.merchant import unique
from shared.settings import Settings

pytestmark = pytest.mark.usefixtures("platform")  # the gateway's schema, migrated by the gateway


async def test_concurrent_lookups_each_get_their_own_recorded_reply_or_none(topics: Settings) -> None:
    pool = await asyncpg.create_pool(topics.database_url, server_settings={"search_path": "gateway"})
    try:
        recorded = {unique("RL"): f'{{"reply": {n}}}' for n in range(5)}
        now = datetime.now(UTC)
        answered = [store.Answered(r, "WriteOff", "3085676", response, now) for r, response in recorded.items()]
        await store.record(pool, answered, {})
        lookups = ReplayLookups(pool)
        asked = [*recorded, *(unique("RL") for _ in range(20)), *recorded]  # repeats and strangers among them

        found = await asyncio.gather(*(lookups.reply_of(request_id) for request_id in asked))

        assert found == [recorded.get(request_id) for request_id in asked]
    finally:
        await pool.close()


async def test_a_database_fault_reaches_every_request_that_waited_on_the_query(topics: Settings) -> None:
    pool = await asyncpg.create_pool(topics.database_url, server_settings={"search_path": "gateway"})
    await pool.close()  # every query now fails, as on a database outage
    lookups = ReplayLookups(pool)

    outcomes = await asyncio.gather(*(lookups.reply_of(unique("RL")) for _ in range(10)), return_exceptions=True)

    assert all(isinstance(outcome, asyncpg.InterfaceError) for outcome in outcomes), outcomes
