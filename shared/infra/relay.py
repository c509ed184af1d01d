"""Publishes a service's outbox to Kafka, in order, with one active relay per service (advisory lock).

Each event goes out with its link in the service's event chain as record headers (the event's bytes and id are
unchanged), and the chain's tail is signed now and then on the checkpoints topic (shared/infra/chain.py). Each also
carries the platform's seal (shared/infra/seal.py), which every consuming service checks: a function of the topic,
key and bytes, so an event sent again after a restart carries the same seal.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2

from shared.infra import chain
from shared.infra.door_fallback import DoorFallback
from shared.infra.faults import Backoff, is_transient
from shared.infra.kafka_auth import kafka_security
from shared.infra.outbox import PRIMARY_KEY_SETTINGS, notify_channel
from shared.infra.outbox_floor import ADVANCE_SECONDS, OutboxFloor
from shared.infra.outbox_read import OutboxReader
from shared.infra.seal import Keyring, platform_keyring
from shared.topics import AUDIT_CHECKPOINTS

log = logging.getLogger(__name__)

FETCH_LIMIT = 2000
PARTITION_CACHE_KEYS = 4096  # recent keys whose partition hash the relay remembers (KeyPartitioner)
IDLE_POLL_SECONDS = 0.5
# After a failed leader term, before connecting again: soon (a restarted Postgres is back within a second, and every
# event waits for the relay), then less and less often while the failure lasts.
RETRY_FIRST_SECONDS = 0.2
RETRY_MAX_SECONDS = 2.0
CLOSE_SECONDS = 5.0  # a graceful close of the relay's connection, before it is cut


class KeyPartitioner:
    """aiokafka's default partitioner (murmur2 of the key, like the Java client), remembering recent keys' hashes.

    murmur2 is pure Python there, about a quarter of the relay's own time in an expiry flood; and the events of one
    order share its key and are published together (an expiry sweep publishes the tickets of an order in a row).
    PARTITION_CACHE_KEYS (4,096) cover a fetch of FETCH_LIMIT rows twice over; 65,536 held 12 MB of a relay's memory once full (an
    issuance burst, where every order is a key of its own), for hits only on keys seen seconds before.
    """

    def __init__(self) -> None:
        self._hash = functools.lru_cache(maxsize=PARTITION_CACHE_KEYS)(murmur2)

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return int(DefaultPartitioner()(key, all_partitions, available))
        return all_partitions[(int(self._hash(key)) & 0x7FFFFFFF) % len(all_partitions)]


@dataclass
class OutboxRelay:
    schema: str
    dsn: str
    bootstrap: str
    checkpointer: chain.Checkpointer | None = None  # None: events are linked, but nothing signs the chain
    checkpoint_topic: str = AUDIT_CHECKPOINTS
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    keyring: Keyring = field(default_factory=platform_keyring)  # seals with its first key
    published: int = 0
    # How often the read's floor may move (shared/infra/outbox_floor.py); inf keeps it where the last term left it.
    floor_seconds: float = ADVANCE_SECONDS
    _publishing: bool = field(default=False, init=False, repr=False)  # the current term got as far as publishing
    _doors: DoorFallback = field(init=False, repr=False)  # what the broker last said of the doors replied to

    def __post_init__(self) -> None:
        self._doors = DoorFallback(f"{self.schema}-relay")

    async def run(self) -> None:
        """Publish until `stopping`. Nothing that goes wrong ends it: unpublished rows stay in the outbox and the next
        leader term sends them. (Its child process would be restarted after a crash, but only after a second of
        not publishing.)"""
        backoff = Backoff(RETRY_FIRST_SECONDS, RETRY_MAX_SECONDS)
        while not self.stopping.is_set():
            self._publishing = False
            try:
                await self._run_while_leader()
            except Exception as exc:
                if self._publishing and is_transient(exc):
                    backoff.reset()  # this term was publishing: a new fault, not the same one again
                delay = backoff.next()
                if is_transient(exc):
                    log.warning("relay %s: %r; reconnecting in %.1fs", self.schema, exc, delay)
                else:
                    log.exception("relay %s: unexpected failure; reconnecting in %.1fs", self.schema, delay)
                await _sleep_unless(self.stopping, delay)

    async def _run_while_leader(self) -> None:
        # Plan every statement afresh: the outbox grows by orders of magnitude within seconds (an expiry flood
        # right after a deploy), and a plan cached while it was small (a sequential scan) would be kept until the
        # next ANALYZE, turning each publish into a scan of the whole table. Planning costs about a millisecond.
        # Marking rows published need not wait for the disk: a mark lost in a crash only republishes those events
        # under their own ids, which every consumer's inbox drops (the same as a relay killed before marking).
        # The application name tells operators (and the fault tests, which terminate backends by it) whose it is.
        # Every statement of the relay reads by key or along a short range of the outbox's primary key: its
        # connection takes only such plans (outbox.PRIMARY_KEY_SETTINGS says why).
        settings = {
            "search_path": self.schema,
            "application_name": f"ecticket-{self.schema}-relay",
            "plan_cache_mode": "force_custom_plan",
            "synchronous_commit": "off",
            **PRIMARY_KEY_SETTINGS,
        }
        conn = await asyncpg.connect(self.dsn, server_settings=settings)
        try:
            if not await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", f"relay/{self.schema}"):
                await _sleep_unless(self.stopping, 1.0)  # another instance publishes; stand by
                return
            wake = asyncio.Event()
            await conn.add_listener(notify_channel(self.schema), lambda *_: wake.set())
            producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=f"{self.schema}-relay",
                enable_idempotence=True,
                acks="all",
                linger_ms=2,
                # A partition's batch is built in a buffer of this size: 512 KiB (as before) set a relay's peak at 57 MB
                # publishing an expiry's 200,000 events, 128 KiB at 48 MB, as fast (docs/benchmarks.md).
                max_batch_size=128 * 1024,
                partitioner=KeyPartitioner(),
                **kafka_security(),
            )
            try:
                await producer.start()  # in the try: a producer whose start failed (the broker away) is stopped too
                self._publishing = True
                await self._publish_loop(conn, producer, wake)
            finally:
                await producer.stop()
        finally:
            await _close(conn)

    async def _publish_loop(self, conn: asyncpg.Connection, producer: AIOKafkaProducer, wake: asyncio.Event) -> None:
        # What an earlier term linked but did not mark published goes out again first, with the same links.
        for batch in await chain.pending(conn, self.schema):
            await self._publish(conn, producer, batch)
        tail = await chain.load_tail(conn, self.schema)
        if self.checkpointer is not None:
            self.checkpointer.restart()
        # Reads start from the stored floor (outbox_floor.py says why), then from where the last read ended, plus
        # the seqs it passed over (outbox_read.py).
        reader = OutboxReader(await OutboxFloor.stored(conn, self.floor_seconds))
        while not self.stopping.is_set():
            wake.clear()
            rows = await reader.read(conn, FETCH_LIMIT)
            if rows:
                await self._publish(conn, producer, await chain.link(conn, tail, rows))
            await self._checkpoint_if_due(producer, tail)
            if not rows:
                await _wait(wake, IDLE_POLL_SECONDS)
        await self._checkpoint_if_due(producer, tail, final=True)

    async def _publish(self, conn: asyncpg.Connection, producer: AIOKafkaProducer, batch: chain.Batch) -> None:
        # Sends are queued in seq order; the idempotent producer keeps that order per partition.
        # A reply to a sender's reply topic deleted by hand goes to the shared one (shared/infra/door_fallback.py);
        # the row keeps its topic. Replies are never chained (chain.CHAINED_TOPICS), so no link names a moved one.
        moved = await self._doors.moved(producer.client, [r["topic"] for r in batch.rows])
        deliveries = []
        for r, link in zip(batch.rows, batch.links, strict=True):
            key = r["key"].encode()
            topic = moved.get(r["topic"], r["topic"]) if moved else r["topic"]
            headers = [("event_type", r["event_type"].encode()), *self.keyring.headers(topic, key, r["value"])]
            if link is not None:
                headers += link.headers()
            deliveries.append(await producer.send(topic, r["value"], key=key, headers=headers))
        await asyncio.gather(*deliveries)
        await chain.mark_published(conn, batch)
        self.published += len(batch.rows)

    async def _checkpoint_if_due(self, producer: AIOKafkaProducer, tail: chain.Tail, *, final: bool = False) -> None:
        """Sign the tail once every event up to it is acknowledged by Kafka (they are, after `_publish`)."""
        if self.checkpointer is None or not self.checkpointer.due(tail, final=final):
            return
        checkpoint = self.checkpointer.sign(tail)
        await (await producer.send(self.checkpoint_topic, checkpoint.to_bytes(), key=self.schema.encode()))


async def _close(conn: asyncpg.Connection) -> None:
    """Close the connection, or cut it: one that broke (the server restarted, the backend was terminated, the
    protocol lost its state) must not make the relay wait, nor raise a second error over the first."""
    if not conn.is_closed():
        try:
            await asyncio.wait_for(conn.close(), CLOSE_SECONDS)
            return
        except Exception as exc:
            log.debug("relay connection did not close cleanly (%r); terminating it", exc)
    conn.terminate()


async def _wait(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def _sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    await _wait(stopping, seconds)
