"""An idle consumer's long fetch wait costs nothing when records start to flow again (shared/infra/fetch_pacing.py):
real Kafka, a consumer paced as the services' are, with an idle wait long enough that a stall behind it is plain."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.infra.fetch_pacing import FetchPacing
from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import ensure_topics
from shared.settings import Settings
from shared.topics import Topic

IDLE_MS = 3000  # the stall the pacing must spare the second record: six times the services' own idle wait


class PacedReader:
    """Reads the topic as `ConsumerRunner` does (a poll, then the pacing told what it returned), noting arrivals."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self.consumer = consumer
        self.pacing = FetchPacing(consumer, busy_ms=5, idle_ms=IDLE_MS, idle_after=0.5)
        self.arrived: dict[bytes, float] = {}
        self.news = asyncio.Event()

    async def run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            now = time.monotonic()
            records = [r for rs in batch.values() for r in rs]
            self.pacing.after_poll(len(records))
            self.arrived.update((r.value or b"", now) for r in records)
            if records or self.consumer.assignment():
                self.news.set()

    async def until(self, seen: Callable[[], bool], seconds: float) -> None:
        async with asyncio.timeout(seconds):
            while not seen():
                self.news.clear()
                await self.news.wait()


async def test_the_record_after_the_first_one_after_idling_is_not_held_behind_the_idle_wait(infra: Settings) -> None:
    topic = f"test.pacing.{uuid.uuid4().hex[:8]}"
    # Two partitions: the fetch sent while the first record is read asks for the other one, with the wait in force.
    await ensure_topics(infra.kafka_bootstrap, (Topic(topic, 2, 3_600_000, False, "-", "fetch pacing test"),))
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka_bootstrap, linger_ms=0, **kafka_security())
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=infra.kafka_bootstrap,
        group_id=topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=IDLE_MS,
        **kafka_security(),
    )
    await producer.start()
    await consumer.start()
    reader = PacedReader(consumer)
    reading = asyncio.create_task(reader.run())
    try:
        await reader.until(lambda: len(consumer.assignment()) == 2, 30)
        await asyncio.sleep(1.0)  # idle: the wait is the long one
        assert reader.pacing.wait_ms == IDLE_MS

        await producer.send_and_wait(topic, b"first", partition=0)
        await reader.until(lambda: b"first" in reader.arrived, 10)
        await asyncio.sleep(0.2)
        sent = time.monotonic()
        await producer.send_and_wait(topic, b"second", partition=0)
        await reader.until(lambda: b"second" in reader.arrived, IDLE_MS / 1000 * 2)

        assert reader.arrived[b"second"] - sent < 1.0, "the second record waited behind the idle fetch"
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
        await consumer.stop()
        await producer.stop()
