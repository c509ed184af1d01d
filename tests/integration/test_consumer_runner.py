"""The shared consumer shape on a real PostgreSQL: duplicates skipped, poison isolated, nothing lost."""

from __future__ import annotations

import contextlib
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
from shared.infra.messages import Inbound, Parsed, Route, Unparseable, one_by_one
from shared.infra.redrive import redrive_step
from shared.infra.seal import sealed_headers
from shared.settings import Settings
from tests.support.postgres import drop_schema

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
TOPIC = "runner.test"
FAILED_ONCE: set[str] = set()
FIXED: set[str] = set()  # messages whose handler bug a test has "fixed"


def parse(record: Inbound) -> Parsed[str]:
    if record.value == b"msg:deep":
        raise RecursionError("maximum recursion depth exceeded")  # what json.loads raises at 1,200 levels
    if not record.value.startswith(b"msg:"):
        raise Unparseable("not a test message")
    return Parsed(content_id(TOPIC, record.value), record.value.decode())


async def handle(conn: asyncpg.Connection, parsed: Parsed[str], record: Inbound) -> Sequence[Outgoing]:
    if parsed.body == "msg:boom" and parsed.body not in FIXED:
        raise RuntimeError("a bug in the handler")
    if parsed.body in ("msg:cut-off", "msg:flaky") and parsed.body not in FAILED_ONCE:
        FAILED_ONCE.add(parsed.body)
        if parsed.body == "msg:flaky":
            raise RuntimeError("an unclassified failure that does not happen again")
        # A real fault, not a simulated one: the server ends this session in the middle of the batch.
        await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    await conn.execute("INSERT INTO handled (body) VALUES ($1)", parsed.body)
    return [notice(parsed, f"handled {parsed.body}")]


def notice(parsed: Parsed[str], error: str) -> Outgoing:
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
    return [sealed(TOPIC, offset, body) for offset, body in enumerate(bodies)]


def sealed(topic: str, offset: int, body: bytes) -> Inbound:
    """A record as a platform process publishes it: with its seal (tests/integration/test_provenance.py)."""
    return Inbound(topic, 0, offset, None, body, 0, tuple(sealed_headers(topic, None, body)))


@contextlib.asynccontextmanager
async def runner_for(infra: Settings, route: Route[str]) -> AsyncIterator[ConsumerRunner]:
    schema = "runner_" + uuid.uuid4().hex[:8]
    empty = Path(tempfile.mkdtemp())
    (empty / "001_handled.sql").write_text("CREATE TABLE handled (body text NOT NULL);")
    await migrate(infra.database_url, schema, empty)
    pool = await create_pool(infra.database_url, schema, min_size=1, max_size=2)
    try:
        yield ConsumerRunner(
            name="t", schema=schema, pool=pool, bootstrap="unused", routes={TOPIC: route}, clock=FixedClock(NOW)
        )
    finally:
        await pool.close()
        await drop_schema(infra.database_url, schema)


@pytest.fixture
async def runner(infra: Settings) -> AsyncIterator[ConsumerRunner]:
    route = Route(
        parse=parse,
        handle=one_by_one(handle),
        on_poison=lambda _record, parsed, error, _now: [notice(parsed, "poisoned")],
    )
    async with runner_for(infra, route) as runner:
        yield runner


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


async def dead_letters(runner: ConsumerRunner) -> dict[bytes, tuple[str, str, bool]]:
    async with runner.pool.acquire() as conn:
        rows = await conn.fetch("SELECT value, stage, error, touches_money FROM dead_letters")
    return {r["value"]: (r["stage"], r["error"], r["touches_money"]) for r in rows}


async def handled(runner: ConsumerRunner) -> list[str]:
    async with runner.pool.acquire() as conn:
        return sorted(r["body"] for r in await conn.fetch("SELECT body FROM handled"))


async def test_a_parser_that_raises_anything_dead_letters_that_message_and_the_batch_goes_on(
    runner: ConsumerRunner,
) -> None:
    await runner.process(records(b"msg:one", b"msg:deep", b"msg:two"))
    assert await handled(runner) == ["msg:one", "msg:two"]
    stage, error, _ = (await dead_letters(runner))[b"msg:deep"]
    assert stage == "parse" and "RecursionError" in error


async def test_a_connection_killed_by_the_server_mid_batch_is_retried_and_nothing_is_dead_lettered(
    runner: ConsumerRunner,
) -> None:
    FAILED_ONCE.discard("msg:cut-off")
    await runner.process(records(b"msg:one", b"msg:cut-off", b"msg:two"))
    assert "msg:cut-off" in FAILED_ONCE  # the server really did end the session
    assert await handled(runner) == ["msg:cut-off", "msg:one", "msg:two"]
    assert await dead_letters(runner) == {}


async def test_a_failure_that_does_not_repeat_on_a_healthy_database_is_not_poison(runner: ConsumerRunner) -> None:
    FAILED_ONCE.discard("msg:flaky")
    await runner.process(records(b"msg:one", b"msg:flaky", b"msg:two"))
    assert await handled(runner) == ["msg:flaky", "msg:one", "msg:two"]
    assert await dead_letters(runner) == {}


async def test_a_poison_message_in_a_large_batch_is_found_by_bisection_and_the_rest_applied_once(
    runner: ConsumerRunner,
) -> None:
    bodies = [f"msg:{i}".encode() for i in range(200)]
    bodies[137] = b"msg:boom"
    await runner.process(records(*bodies))
    assert len(await handled(runner)) == 199
    assert list(await dead_letters(runner)) == [b"msg:boom"]
    stage, _, money = (await dead_letters(runner))[b"msg:boom"]
    assert stage == "handle" and money  # a message understood but never applied is a fact that was lost


async def test_an_answer_that_cannot_be_stored_does_not_keep_the_consumer_from_dead_lettering(
    infra: Settings,
) -> None:
    def unstorable_answer(_record: Inbound, parsed: Parsed[str], _error: str, _now: datetime) -> list[Outgoing]:
        answer = notice(parsed, "poisoned")
        answer.key = "merchant\x00"  # Postgres text cannot hold NUL: the outbox insert fails every time
        return [answer]

    route = Route(parse=parse, handle=one_by_one(handle), on_poison=unstorable_answer)
    async with runner_for(infra, route) as runner:
        await runner.process(records(b"msg:boom", b"msg:after"))
        assert await handled(runner) == ["msg:after"]
        assert list(await dead_letters(runner)) == [b"msg:boom"]


async def test_unreadable_bytes_on_an_ingestion_topic_do_not_count_as_money_but_a_broken_event_does(
    runner: ConsumerRunner,
) -> None:
    ingest = "ecticket.ingest.requests.v1"
    route = runner.routes[TOPIC]
    runner.routes = {TOPIC: route, ingest: route}
    await runner.process([Inbound(ingest, 0, 7, None, b"\xff garbage", 0), sealed(TOPIC, 8, b"junk")])
    letters = await dead_letters(runner)
    assert letters[b"\xff garbage"][2] is False
    assert letters[b"junk"][2] is True


async def test_a_dead_letter_is_re_driven_once_the_fault_is_fixed_and_announced_resolved(
    runner: ConsumerRunner,
) -> None:
    await runner.process(records(b"msg:boom", b"msg:one"))
    async with runner.pool.acquire() as conn:
        await conn.execute("UPDATE dead_letters SET redrive_requested_at = now()")
    assert await redrive_step(runner) is False  # still broken: stays open with the new error
    async with runner.pool.acquire() as conn:
        letter = await conn.fetchrow("SELECT * FROM dead_letters")
    assert (letter["resolved_at"], letter["redrive_requested_at"], letter["redrives"]) == (None, None, 1)
    assert letter["error"].startswith("re-drive failed")

    FIXED.add("msg:boom")
    try:
        async with runner.pool.acquire() as conn:
            await conn.execute("UPDATE dead_letters SET redrive_requested_at = now()")
        await redrive_step(runner)
    finally:
        FIXED.discard("msg:boom")
    async with runner.pool.acquire() as conn:
        letter = await conn.fetchrow("SELECT * FROM dead_letters")
        events = [r["event_type"] for r in await conn.fetch("SELECT event_type FROM outbox ORDER BY seq")]
    assert letter["resolution"] == "redriven" and letter["redrives"] == 2
    assert await handled(runner) == ["msg:boom", "msg:one"]
    assert events[-1] == "DeadLetterResolved"


async def test_messages_the_service_does_not_want_leave_no_inbox_row_and_reach_no_handler(infra: Settings) -> None:
    route = Route(parse=parse, handle=one_by_one(handle), wanted=lambda body: not body.startswith("msg:theirs"))
    async with runner_for(infra, route) as runner:
        await runner.process(records(b"msg:theirs-1", b"msg:mine", b"msg:theirs-2", b"garbage"))
        await runner.process(records(b"msg:theirs-3"))  # a batch of nothing wanted opens no transaction at all
        async with runner.pool.acquire() as conn:
            handled = [r["body"] for r in await conn.fetch("SELECT body FROM handled")]
            inbox = await conn.fetchval("SELECT count(*) FROM inbox")
            dead = [bytes(r["value"]) for r in await conn.fetch("SELECT value FROM dead_letters")]
    assert handled == ["msg:mine"]
    assert inbox == 1
    assert dead == [b"garbage"]  # unreadable bytes are still kept: wanting is decided only on what parses
