"""Watching topics from outside (tests, demo, benchmark): every record from the moment the tap starts, with waits that poll a deadline."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.contracts.envelope import EventEnvelope
from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import partitions_of
from shared.topics import AUDIT_INPUTS


@dataclass(frozen=True)
class Seen:
    topic: str
    key: str | None
    envelope: EventEnvelope

    @property
    def type(self) -> str:
        return self.envelope.event_type

    @property
    def payload(self) -> dict[str, Any]:
        return self.envelope.payload


class Tap:
    def __init__(self, bootstrap: str, topics: list[str]) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self.seen: list[Seen] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        known = await partitions_of(self._bootstrap, self._topics)
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False, **kafka_security())
        await consumer.start()
        partitions = [TopicPartition(t, p) for t, numbers in known.items() for p in numbers]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolve "end" now, so nothing published after start() is missed
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            # gather: a fetch that timed out while the loop was busy can make stop() itself end cancelled, which
            # must not fail the caller's teardown (seen once at the end of a test session).
            await asyncio.gather(self._consumer.stop(), return_exceptions=True)

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            for records in batch.values():
                for r in records:
                    if r.topic.startswith(AUDIT_INPUTS):
                        continue  # merchants' signed inputs, byte for byte, not events (a watcher of every topic)
                    try:
                        envelope = EventEnvelope.from_bytes(r.value)
                    except ValueError:  # junk a hostile or fault test put on a watched topic: not an event
                        continue
                    self.seen.append(Seen(r.topic, r.key.decode() if r.key else None, envelope))

    def matching(self, predicate: Callable[[Seen], bool]) -> list[Seen]:
        return [s for s in self.seen if predicate(s)]

    async def wait_for(self, predicate: Callable[[Seen], bool], seconds: float = 30, count: int = 1) -> list[Seen]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            found = self.matching(predicate)
            if len(found) >= count:
                return found
            if loop.time() > deadline:
                raise TimeoutError(f"saw {len(found)} of {count} expected records in {seconds}s")
            await asyncio.sleep(0.05)

    async def wait_for_distinct(self, predicate: Callable[[Seen], bool], count: int, seconds: float = 30) -> list[Seen]:
        """`count` different events, one per event id (a relay may publish one twice; consumers keep one per id)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(found := list({s.envelope.event_id: s for s in self.matching(predicate)}.values())) < count:
            if loop.time() > deadline:
                raise TimeoutError(f"saw {len(found)} of {count} distinct events in {seconds}s")
            await asyncio.sleep(0.05)
        return found

    async def quiet_matching(self, predicate: Callable[[Seen], bool], settle: float = 1.5) -> list[Seen]:
        """Everything matching once nothing new has matched for `settle` seconds (to prove there is no second)."""
        count = -1
        while True:
            found = self.matching(predicate)
            if len(found) == count:
                return found
            count = len(found)
            await asyncio.sleep(settle)
