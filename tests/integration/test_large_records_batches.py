"""Large records fetched together are applied in transactions of at most `max_batch_bytes` of them, in order, each
record once (shared/infra/consumer.py, `by_bytes`): real Kafka, real PostgreSQL, the runner's own loop."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.clock import SystemClock
from shared.contracts.events import Outgoing
from shared.ids import content_id
from shared.infra.consumer import ConsumerRunner
from shared.infra.database import create_pool, migrate
from shared.infra.kafka_auth import kafka_security
from shared.infra.messages import Inbound, Parsed, Route, one_by_one
from shared.infra.seal import sealed_headers
from shared.infra.topics_admin import ensure_topics
from shared.settings import Settings
from shared.topics import Topic
from tests.support.postgres import drop_schema

# A fetch brings up to 1 MiB of a partition (aiokafka's max_partition_fetch_bytes): some ten of these records, which
# without the byte limit would be one transaction.
RECORD_BYTES = 100_000
LIMIT = 250_000  # two records fit, a third does not
RECORDS = 30


def parse(record: Inbound) -> Parsed[int]:
    return Parsed(content_id(record.topic, record.value), int(record.value[:8]))


async def handle(conn: asyncpg.Connection, parsed: Parsed[int], _record: Inbound) -> Sequence[Outgoing]:
    await conn.execute("INSERT INTO handled (number, tx) VALUES ($1, txid_current())", parsed.body)
    return []


async def test_large_records_fetched_together_are_applied_in_transactions_under_the_byte_limit_each_once(
    infra: Settings,
) -> None:
    name = "bigbatch_" + uuid.uuid4().hex[:8]
    await ensure_topics(infra.kafka_bootstrap, (Topic(name, 1, -1, False, "none", "a batch test's own topic"),))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, acks="all", **kafka_security())
    await producer.start()
    try:
        for number in range(RECORDS):
            value = f"{number:08d}".encode() + b"x" * (RECORD_BYTES - 8)
            await producer.send(name, value, headers=sealed_headers(name, None, value))
        await producer.flush()
    finally:
        await producer.stop()

    migrations = Path(tempfile.mkdtemp())
    (migrations / "001_handled.sql").write_text("CREATE TABLE handled (number int, tx bigint);")
    await migrate(infra.database_url, name, migrations)
    pool = await create_pool(infra.database_url, name, min_size=1, max_size=2)
    runner = ConsumerRunner(
        name, name, pool, infra.kafka_bootstrap, {name: Route(parse=parse, handle=one_by_one(handle))}, SystemClock()
    )
    runner.max_batch_bytes = LIMIT
    running = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(60):
            while await pool.fetchval("SELECT count(*) FROM handled") < RECORDS:  # noqa: ASYNC110 (a table: polled)
                await asyncio.sleep(0.2)
        rows = await pool.fetch("SELECT number, tx FROM handled ORDER BY number")
    finally:
        runner.stopping.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(running, 20)
        await pool.close()
        await drop_schema(infra.database_url, name)

    assert [r["number"] for r in rows] == list(range(RECORDS))  # each once
    per_transaction: dict[int, list[int]] = {}
    for r in rows:
        per_transaction.setdefault(r["tx"], []).append(r["number"])
    assert all(len(numbers) * RECORD_BYTES <= LIMIT for numbers in per_transaction.values())
    # In order: a later transaction never holds an earlier record.
    assert [n for tx in sorted(per_transaction) for n in per_transaction[tx]] == list(range(RECORDS))
