"""A message that kills its consumer process is dead-lettered after a restart, instead of killing it forever."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.infra.kafka_auth import kafka_security
from shared.infra.seal import sealed_headers
from shared.infra.topics_admin import ensure_topics
from shared.settings import Settings
from shared.topics import Topic

ROOT = Path(__file__).resolve().parents[2]


async def test_a_message_that_kills_the_process_is_dead_lettered_after_three_deaths_and_the_rest_applied_once(
    infra: Settings, tmp_path: Path
) -> None:
    name = "crashloop_" + uuid.uuid4().hex[:8]
    await ensure_topics(infra.kafka_bootstrap, (Topic(name, 1, -1, False, "none", "test"),))
    bodies = [f"msg:{i}" for i in range(60)]
    bodies[23] = "msg:die"
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, **kafka_security())
    await producer.start()
    try:
        for body in bodies:
            await producer.send(name, body.encode(), headers=sealed_headers(name, None, body.encode()))
        await producer.flush()
    finally:
        await producer.stop()

    deaths, process = 0, None
    log = (tmp_path / "consumer.log").open("ab")
    conn = await asyncpg.connect(infra.database_url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while loop.time() < deadline:
            if process is None or process.poll() is not None:
                deaths += process is not None
                process = subprocess.Popen(  # noqa: ASYNC220 (spawning is quick)
                    [sys.executable, "-m", "tests.support.crashing_consumer", name, name],
                    cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=log,
                )  # fmt: skip
            done = await _count(conn, f"SELECT count(*) FROM {name}.handled")
            dead = await _count(conn, f"SELECT count(*) FROM {name}.dead_letters")
            if done == 59 and dead == 1:
                break
            await asyncio.sleep(0.2)
        handled = [r["body"] for r in await conn.fetch(f"SELECT body FROM {name}.handled")]
        letter = await conn.fetchrow(f"SELECT value, stage FROM {name}.dead_letters")
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")  # its unpublished outbox row: see drop_schema
        await conn.close()
        log.close()

    assert sorted(handled) == sorted(b for b in bodies if b != "msg:die")  # each good message exactly once
    assert letter is not None and letter["value"] == b"msg:die" and letter["stage"] == "crash"
    assert deaths == 3  # once inside its batch, twice handled alone; never a fourth time


async def _count(conn: asyncpg.Connection, sql: str) -> int:
    try:
        return int(await conn.fetchval(sql))
    except asyncpg.UndefinedTableError:  # the consumer has not created its schema yet
        return 0
