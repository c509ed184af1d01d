"""The simulated bank's statement over the real processor simulator and database: each captured trade credited once,
an ended day closed only after the grace, with its count and totals, and a late movement booked onto the next open
day.

The bank under test runs in a schema of its own with a clock the test moves (the platform's bank process, reading the
same processor, keeps its own statement apart), so the test can let midnight pass.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import asyncpg
import pytest

from deploy.simulators.bank import statement
from deploy.simulators.bank.processor_feed import ProcessorFeed
from deploy.simulators.bank.statement import Movement
from shared.clock import TAIPEI, FixedClock, business_date
from shared.contracts.bank import StatementDirection
from shared.ecticket.processor_query import processor_url
from shared.infra.database import create_pool, migrate
from shared.sandbox.merchant import unique
from shared.settings import Settings
from tests.support.merchants import fresh_merchant
from tests.support.orders import pay

pytestmark = pytest.mark.usefixtures("platform")
BANK_MIGRATIONS = Path(__file__).resolve().parents[2] / "deploy/simulators/bank/migrations"
GRACE = timedelta(seconds=30)


@pytest.fixture
async def bank_schema(topics: Settings) -> AsyncIterator[asyncpg.Pool]:
    schema = "bank_test_" + uuid.uuid4().hex[:8]
    await migrate(topics.database_url, schema, BANK_MIGRATIONS)
    pool = await create_pool(topics.database_url, schema, min_size=1, max_size=2)
    yield pool
    await pool.execute(f"DROP SCHEMA {schema} CASCADE")
    await pool.close()


async def test_each_captured_trade_is_credited_once_and_an_ended_day_closes_after_the_grace_with_its_totals(
    topics: Settings, bank_schema: asyncpg.Pool
) -> None:
    m = await fresh_merchant(topics)
    paid = [await pay(m, unique("BS"), amount, deliver=False) for amount in (500, 300)]
    trade_nos = [p["TradeNo"] for p in paid]
    now = datetime.now(UTC)
    today = business_date(now)
    clock = FixedClock(now)
    feed = ProcessorFeed(bank_schema, clock, processor_url(), GRACE)
    credited = "SELECT trade_no, amount, statement_date FROM statement_lines WHERE trade_no = ANY($1::text[])"
    try:
        await feed.step()
        await feed.step()  # the file read again: nothing is booked twice
        lines = await bank_schema.fetch(credited, trade_nos)
        assert sorted((r["amount"], r["statement_date"]) for r in lines) == [(300, today), (500, today)]
        assert await bank_schema.fetchval("SELECT count(*) FROM statement_lines") == await bank_schema.fetchval(
            "SELECT count(*) FROM credited_trades"
        )  # every trade of today's file (other tests' too), once each

        midnight = datetime.combine(today + timedelta(days=1), time(0), tzinfo=TAIPEI).astimezone(UTC)
        clock.current = midnight + GRACE - timedelta(seconds=1)
        await feed.step()
        closed = "SELECT closed_at, lines, credits_total, debits_total FROM statement_days WHERE statement_date = $1"
        assert (await bank_schema.fetchrow(closed, today))["closed_at"] is None  # late captures may still come

        clock.current = midnight + GRACE + timedelta(seconds=1)
        await feed.step()
        day = await bank_schema.fetchrow(closed, today)
        totals = await bank_schema.fetchrow(
            "SELECT count(*) AS lines, sum(amount) AS credits FROM statement_lines WHERE statement_date = $1", today
        )
        assert day["closed_at"] == clock.current
        assert (day["lines"], day["credits_total"], day["debits_total"]) == (totals["lines"], totals["credits"], 0)
        [published] = await bank_schema.fetch("SELECT value FROM outbox WHERE event_type = 'BankStatementClosed'")
        payload = json.loads(published["value"])["payload"]
        assert (payload["statement_date"], payload["lines"], payload["credits_total"]) == (
            today.isoformat(), day["lines"], day["credits_total"]
        )  # fmt: skip

        await feed.step()  # closed once
        closings = "SELECT count(*) FROM outbox WHERE event_type = 'BankStatementClosed'"
        assert await bank_schema.fetchval(closings) == 1
        open_days = await bank_schema.fetch("SELECT statement_date FROM statement_days WHERE closed_at IS NULL")
        assert [r["statement_date"] for r in open_days] == [today + timedelta(days=1)]

        async with bank_schema.acquire() as conn, conn.transaction():  # a movement of the closed day, booked late
            late = Movement("debit/late", StatementDirection.DEBIT, 100, today, clock.current, merchant_id=m)
            [event] = await statement.book(conn, [late])
        assert json.loads(event.value)["payload"]["statement_date"] == (today + timedelta(days=1)).isoformat()

        long_ago = today - timedelta(days=400)  # closed on demand, twice (cli close-statement): no day appears after it
        for _ in range(2):
            assert await feed.read(long_ago, clock.current)
            async with bank_schema.acquire() as conn, conn.transaction():
                await statement.close(conn, long_ago, clock.current)
        past = await bank_schema.fetch(
            "SELECT statement_date, lines FROM statement_days WHERE statement_date < $1", today
        )
        assert [(r["statement_date"], r["lines"]) for r in past] == [(long_ago, 0)]
    finally:
        await feed.close()
