"""The shared consumer shape on a real PostgreSQL: duplicates skipped, poison isolated, nothing lost."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from shared.clock import FixedClock
from shared.contracts.events import Outgoing, wrap
from shared.contracts.rejections import MessageRejected
from shared.ids import content_id
from shared.infra.consumer import ConsumerRunner
from shared.infra.database import create_pool, migrate
from shared.infra.messages import Inbound, Parsed, Route, Unparseable
from shared.settings import Settings

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
TOPIC = "runner.test"


def parse(record: Inbound) -> Parsed:
    if not record.value.startswith(b"msg:"):
        raise Unparseable("not a test message")
    return Parsed(content_id(TOPIC, record.value), record.value.decode())


async def handle(conn: asyncpg.Connection, parsed: Parsed, record: Inbound) -> Sequence[Outgoing]:
    if parsed.body == "msg:boom":
        raise RuntimeError("a bug in the handler")
    await conn.execute("INSERT INTO handled (body) VALUES ($1)", parsed.body)
    return [notice(parsed, f"handled {parsed.body}")]


def notice(parsed: Parsed, error: str) -> Outgoing:
    event = MessageRejected(
        consumer="t",
        source_topic=TOPIC,
        source_partition=0,
        source_offset=0,
        raw_size=0,
        raw_sha256="",
        raw_preview="",
        error=error,
        rejected_at=NOW,
    )
    return wrap(
        event,
        event_id=uuid.uuid5(parsed.message_id, error),
        occurred_at=NOW,
        producer="t",
        correlation_id="c",
        causation_id=None,
    )


def records(*bodies: bytes) -> list[Inbound]:
    return [Inbound(TOPIC, 0, offset, None, body, 0) for offset, body in enumerate(bodies)]


@pytest.fixture
async def runner(infra: Settings) -> AsyncIterator[ConsumerRunner]:
    schema = "runner_" + uuid.uuid4().hex[:8]
    empty = Path(tempfile.mkdtemp())
    (empty / "001_handled.sql").write_text("CREATE TABLE handled (body text NOT NULL);")
    await migrate(infra.database_url, schema, empty)
    pool = await create_pool(infra.database_url, schema, min_size=1, max_size=2)
    route = Route(parse=parse, handle=handle, on_poison=lambda parsed, error, _now: [notice(parsed, "poisoned")])
    yield ConsumerRunner(
        name="t", schema=schema, pool=pool, bootstrap="unused", routes={TOPIC: route}, clock=FixedClock(NOW)
    )
    await pool.close()


async def test_a_poison_message_is_dead_lettered_alone_and_the_rest_of_its_batch_is_applied(
    runner: ConsumerRunner,
) -> None:
    batch = records(b"msg:one", b"msg:boom", b"garbage", b"msg:two", b"msg:one")
    await runner.process(batch)
    async with runner.pool.acquire() as conn:
        handled = sorted(r["body"] for r in await conn.fetch("SELECT body FROM handled"))
        dead = {r["value"]: r["error"] for r in await conn.fetch("SELECT value, error FROM dead_letters")}
        events = [r["event_type"] for r in await conn.fetch("SELECT event_type FROM outbox ORDER BY seq")]
    assert handled == ["msg:one", "msg:two"]  # the repeat of msg:one inside the batch is skipped
    assert set(dead) == {b"msg:boom", b"garbage"}
    assert "a bug in the handler" in dead[b"msg:boom"] and "not a test message" in dead[b"garbage"]
    # two handled notices, the poison notice, and one MessageRejected per dead letter
    assert sorted(events).count("MessageRejected") == 5


async def test_a_redelivered_batch_changes_nothing(runner: ConsumerRunner) -> None:
    batch = records(b"msg:a", b"msg:boom", b"junk")
    await runner.process(batch)
    async with runner.pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM outbox")
    await runner.process(batch)
    async with runner.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == before
        assert await conn.fetchval("SELECT count(*) FROM handled") == 1
        assert await conn.fetchval("SELECT count(*) FROM dead_letters") == 2
