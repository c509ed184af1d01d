"""An in-memory copy of a compacted topic (merchant config, products, test clocks), kept current by tailing it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.infra.topics_admin import partitions_of

log = logging.getLogger(__name__)

T = TypeVar("T")


class CompactedView(Generic[T]):
    def __init__(self, bootstrap: str, topic: str, parse: Callable[[bytes], T]) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._parse = parse
        self._items: dict[str, T] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # No consumer group: every process reads the whole topic from the beginning.
        partitions = (await partitions_of(self._bootstrap, [self._topic]))[self._topic]
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False)
        await consumer.start()
        self._partitions = [TopicPartition(self._topic, p) for p in partitions]
        consumer.assign(self._partitions)
        await consumer.seek_to_beginning(*self._partitions)
        self._consumer = consumer
        self._task = asyncio.create_task(self._tail(), name=f"view:{self._topic}")
        await self.catch_up()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def values(self) -> list[T]:
        return list(self._items.values())

    async def lookup(self, key: str) -> T | None:
        """`get`, but a miss first reads up to the topic's current end (the record may be just published)."""
        found = self._items.get(key)
        if found is None:
            await self.catch_up()
            found = self._items.get(key)
        return found

    async def catch_up(self, limit_seconds: float = 10.0) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        ends = await consumer.end_offsets(self._partitions)
        async with asyncio.timeout(limit_seconds):
            for tp, end in ends.items():
                # The tail task advances the position; polling it is simpler than a per-record signal.
                while await consumer.position(tp) < end:  # noqa: ASYNC110
                    await asyncio.sleep(0.01)

    async def _tail(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    self._apply(record.key, record.value)

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        name = key.decode()
        if value is None:
            self._items.pop(name, None)  # tombstone
            return
        try:
            self._items[name] = self._parse(value)
        except ValueError:
            log.exception("ignoring an unreadable record on %s (key %s)", self._topic, name)
