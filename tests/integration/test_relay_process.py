"""The outbox relay runs as a child process of its service: it publishes, comes back if it dies, and never
outlives its service for long (stopped, or kill -9'd)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from shared.contracts.events import wrap
from shared.contracts.rejections import MessageRejected
from shared.infra import outbox, relay_process
from shared.settings import Settings
from tests.support.processes import ROOT

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


async def append_one(pool: asyncpg.Pool, schema: str) -> uuid.UUID:
    rejected = MessageRejected(consumer="t", source_topic="t", source_partition=0, source_offset=0, raw_size=0,
                               raw_sha256="", raw_preview="", error="e", rejected_at=NOW)  # fmt: skip
    event = wrap(rejected, event_id=uuid.uuid4(), occurred_at=NOW, producer="t", correlation_id="c", causation_id=None)
    async with pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, schema, [event])
    return event.event_id


async def published(pool: asyncpg.Pool, event_id: uuid.UUID, seconds: float = 20) -> bool:
    """True once the relay has Kafka's acknowledgement for the event (it marks the row only then)."""
    for _ in range(int(seconds / 0.1)):
        if await pool.fetchval("SELECT published_at IS NOT NULL FROM outbox WHERE event_id = $1", event_id):
            return True
        await asyncio.sleep(0.1)
    return False


def relays_of(schema: str) -> list[int]:
    """Pids of the relay processes publishing `schema`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"shared.infra.relay_process" in command and schema.encode() in command:
                found.append(int(entry.name))
    return found


async def until(condition: Callable[[], bool], seconds: float) -> bool:
    for _ in range(int(seconds / 0.1)):
        if condition():
            return True
        await asyncio.sleep(0.1)
    return False


async def test_the_relay_child_publishes_comes_back_after_a_kill_and_stops_with_its_service(
    infra: Settings, messaging_schema: tuple[asyncpg.Pool, str]
) -> None:
    pool, schema = messaging_schema
    stopping = asyncio.Event()
    supervisor = asyncio.create_task(relay_process.supervise(schema, infra, stopping))
    try:
        assert await published(pool, await append_one(pool, schema))
        [first] = relays_of(schema)

        os.kill(first, signal.SIGKILL)
        assert await published(pool, await append_one(pool, schema))
        [second] = relays_of(schema)
        assert second != first
    finally:
        stopping.set()
        await asyncio.wait_for(supervisor, 30)
    assert relays_of(schema) == []


async def test_a_relay_whose_service_is_killed_stops_by_itself(
    infra: Settings, messaging_schema: tuple[asyncpg.Pool, str]
) -> None:
    _, schema = messaging_schema
    service = subprocess.Popen(  # noqa: ASYNC220 - spawning is quick
        [
            sys.executable,
            "-c",
            "import asyncio, sys; from shared.infra.relay_process import supervise; from shared.settings import "
            "Settings; asyncio.run(supervise(sys.argv[1], Settings.from_env(), asyncio.Event()))",
            schema,
        ],
        cwd=ROOT,
    )
    try:
        assert await until(lambda: len(relays_of(schema)) == 1, 30), "the service started no relay"
        service.send_signal(signal.SIGKILL)
        service.wait()
        assert await until(lambda: relays_of(schema) == [], 5), "the relay outlived its killed service"
    finally:
        service.kill()
        for pid in relays_of(schema):
            os.kill(pid, signal.SIGKILL)
