"""The one consumer shape: parse -> one Postgres transaction (inbox + decide + state + outbox) -> commit offset."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from shared.clock import Clock
from shared.contracts.events import Outgoing
from shared.infra import deadletters, outbox
from shared.infra.messages import BatchHandler, Inbound, Parsed, Route, Unparseable

log = logging.getLogger(__name__)

# Errors that say nothing about the message: retry the same batch, never dead-letter it.
TRANSIENT = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.CannotConnectNowError,
    ConnectionError,
    OSError,
    asyncio.TimeoutError,
)


@dataclass
class ConsumerRunner:
    name: str  # consumer group and producer name, e.g. "issuance"
    schema: str
    pool: asyncpg.Pool
    bootstrap: str
    routes: Mapping[str, Route]
    clock: Clock
    max_batch: int = 500
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            *self.routes,
            bootstrap_servers=self.bootstrap,
            group_id=self.name,
            client_id=f"{self.name}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.max_batch,
            isolation_level="read_committed",
            # A killed instance's partitions move to the survivors after 6 s instead of the default 10 s.
            session_timeout_ms=6000,
            heartbeat_interval_ms=1500,
        )
        await consumer.start()
        try:
            while not self.stopping.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=self.max_batch)
                if not self.ready.is_set() and consumer.assignment():
                    self.ready.set()
                if not batch:
                    continue
                await self.process(_inbound(batch))
                await _commit(consumer, batch)
        finally:
            await consumer.stop()

    async def process(self, records: Sequence[Inbound]) -> None:
        """Apply a batch durably; retries transient failures, isolates and dead-letters a poison message."""
        parsed: list[tuple[Inbound, Parsed]] = []
        unparseable: list[tuple[Inbound, str]] = []
        for record in records:
            try:
                parsed.append((record, self.routes[record.topic].parse(record)))
            except Unparseable as exc:
                unparseable.append((record, str(exc)))
        await self._with_retries(parsed, unparseable)

    async def _with_retries(
        self,
        parsed: list[tuple[Inbound, Parsed]],
        unparseable: list[tuple[Inbound, str]],
        notices: Sequence[Outgoing] = (),
    ) -> None:
        delay = 0.1
        while True:
            try:
                await self._apply(parsed, unparseable, notices)
                return
            except TRANSIENT as exc:
                log.warning("%s: transient failure, retrying batch in %.1fs: %r", self.name, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception as exc:
                if len(parsed) > 1:
                    # Find the poison message: apply one at a time, so only it is dead-lettered.
                    await self._with_retries([], unparseable)
                    for item in parsed:
                        await self._with_retries([item], [])
                    return
                log.exception("%s: handler failed; dead-lettering the message", self.name)
                failed = [(record, f"handler error: {exc!r}") for record, _ in parsed]
                notices = [*notices, *self._poison_notices(parsed, repr(exc))]
                parsed, unparseable = [], unparseable + failed

    def _poison_notices(self, parsed: list[tuple[Inbound, Parsed]], error: str) -> list[Outgoing]:
        """What the route tells the sender of a message it could not handle (e.g. an INTERNAL_ERROR reply)."""
        notices: list[Outgoing] = []
        for record, item in parsed:
            hook = self.routes[record.topic].on_poison
            if hook is not None:
                notices.extend(hook(item, error, self.clock.now()))
        return notices

    async def _apply(
        self,
        parsed: list[tuple[Inbound, Parsed]],
        unparseable: list[tuple[Inbound, str]],
        notices: Sequence[Outgoing] = (),
    ) -> None:
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            out: list[Outgoing] = list(notices)
            for record, error in unparseable:
                if await deadletters.store(conn, record, error):
                    out.append(deadletters.rejection_for(record, self.name, error, now))
            fresh = await _claim(conn, [p.message_id for _, p in parsed])
            batched: dict[BatchHandler, list[tuple[Inbound, Parsed]]] = {}
            for record, item in parsed:
                if item.message_id in fresh:
                    fresh.discard(item.message_id)  # a repeat inside the same batch is a duplicate too
                    route = self.routes[record.topic]
                    if route.handle_batch is None:
                        out.extend(await route.handle(conn, item, record))
                    else:
                        batched.setdefault(route.handle_batch, []).append((record, item))
            for handle_batch, items in batched.items():
                out.extend(await handle_batch(conn, items))
            await outbox.append(conn, self.schema, out)


async def _claim(conn: asyncpg.Connection, ids: list[object]) -> set[object]:
    if not ids:
        return set()
    rows = await conn.fetch(
        "INSERT INTO inbox (message_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING message_id",
        ids,
    )
    return {r["message_id"] for r in rows}


def _inbound(batch: Mapping[TopicPartition, list[object]]) -> list[Inbound]:
    return [
        Inbound(r.topic, r.partition, r.offset, r.key, r.value or b"", r.timestamp)  # type: ignore[attr-defined]
        for records in batch.values()
        for r in records
    ]


async def _commit(consumer: AIOKafkaConsumer, batch: Mapping[TopicPartition, list[object]]) -> None:
    offsets = {tp: records[-1].offset + 1 for tp, records in batch.items()}  # type: ignore[attr-defined]
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, KafkaError) as exc:
        # A rebalance took the partitions: the new owner re-reads them and the inbox drops the repeats.
        log.warning("offset commit failed (%r); records will be redelivered and deduplicated", exc)
