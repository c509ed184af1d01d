"""Warm the broker's JVM before anything is measured: `make bench` starts a fresh broker, whose first minutes of load
are spent compiling its hot code.

Measured on one instance, the same pipeline benchmark three times in a row (docs/benchmarks.md, "A fresh broker
compiles"): the broker's CPU per paid order fell from 1.1-1.65 ms on a fresh broker to 0.53, 0.32 and 0.22 ms, and
its JIT compiler threads used about 0.25 of a core during the first run (Java Flight Recorder). A broker in service
runs for days: what a benchmark should see is the warm one.

The load is Kafka only, shaped like the platform's (small batches of records of an ingest request's size, several
consumer groups fetching with a short wait and committing after each batch), on a scratch topic deleted afterwards:
no service's database or topic is touched, so no benchmark after it counts its records.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from deploy.bench.common import load_producer
from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import ensure_topics
from shared.topics import Topic

RATE = 4000  # records/s: about what the pipeline's services exchange at its throughput
GROUPS = 3
RECORD = b"x" * 700  # an ingest request's size


def seconds() -> float:
    """BENCH_WARMUP_SECONDS: how long to warm the broker (default 60; 0 skips it)."""
    return float(os.environ.get("BENCH_WARMUP_SECONDS", "60"))


async def warm(bootstrap: str, duration: float) -> int:
    """Produce and consume the load for `duration` seconds; the records produced."""
    topic = f"bench.warmup.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, (Topic(topic, 6, 600_000, False, "MerchantID", "broker warm-up"),))
    producer = await load_producer(bootstrap, linger_ms=2)
    stop = asyncio.Event()
    readers = [asyncio.create_task(_read(bootstrap, topic, f"{topic}.{g}", stop)) for g in range(GROUPS)]
    sent = 0
    try:
        t0 = time.monotonic()
        while (elapsed := time.monotonic() - t0) < duration:
            due = int(elapsed * RATE)
            for i in range(sent, due):
                await producer.send(topic, RECORD, key=str(i % 64).encode())
            sent = max(sent, due)
            await asyncio.sleep(0.01)
        await producer.flush()
    finally:
        stop.set()
        await asyncio.gather(*readers, return_exceptions=True)
        await producer.stop()
        await delete_topic(bootstrap, topic)
    return sent


async def _read(bootstrap: str, topic: str, group: str, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=5,
        fetch_min_bytes=4096,
        **kafka_security(),
    )
    await consumer.start()
    try:
        while not stop.is_set():
            if await consumer.getmany(timeout_ms=100, max_records=500):
                await consumer.commit()
    finally:
        await consumer.stop()


async def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_security())
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
