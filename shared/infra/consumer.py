"""The one consumer shape: parse -> one Postgres transaction (inbox + decide + state + outbox) -> commit offset.

No message can stop it and no fault can lose one:
- any exception while parsing a message dead-letters it (raw bytes kept) and the batch goes on;
- a failure classified as transient (`faults.is_transient`: connection lost, server restarting, deadlock, ...)
  retries the batch with backoff for as long as it takes; nothing is dead-lettered for it;
- any other failure of a batch is bisected to the message that causes it, and that message is dead-lettered only
  if it fails the same way again once the database answers (so a fault that looks like a bug is not mistaken for
  poison); its sender still gets an answer (`Route.on_poison`);
- a message that kills the process itself is found by `CrashGuard` after a restart and dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.coordinator.assignors.abstract import AbstractPartitionAssignor
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor

from shared.clock import Clock
from shared.contracts.events import Outgoing
from shared.infra import deadletters, metrics, outbox
from shared.infra.crash_guard import CrashGuard
from shared.infra.deadletters import DeadLetter, Stage
from shared.infra.faults import Backoff, is_transient
from shared.infra.fetch_pacing import IDLE_WAIT_MS, FetchPacing
from shared.infra.kafka_auth import kafka_security
from shared.infra.messages import BatchHandler, Inbound, Parsed, Route, Routes, Unparseable
from shared.infra.offset_commits import OffsetCommits
from shared.infra.seal import Keyring, is_sealed_topic, platform_keyring
from shared.topics import SENDER_TOPIC_BASES, subscription_pattern

log = logging.getLogger(__name__)
# Records refused for their seal: one line per kind every 10 s (shared/infra/logs.py), since anyone who can write a
# platform topic could otherwise flood the log; each refused record is kept as a dead letter all the same.
provenance_log = logging.getLogger("ecticket.provenance")

Item = tuple[Inbound, Parsed[Any]]
T = TypeVar("T")
MAX_BACKOFF_SECONDS = 5.0
MAX_BATCH_BYTES = 1024 * 1024  # ConsumerRunner.max_batch_bytes' default (ECTICKET_BATCH_MAX_BYTES)
# What one fetch brings back per partition (aiokafka's default is 1 MiB). The client fetches every assigned partition
# that has nothing buffered, and a service is assigned dozens: at 1 MiB, redemption learning orders of 500 tickets
# peaked 17 MB higher than at 256 KiB, and learned no faster (docs/benchmarks.md, "Memory at the peak"). 256 KiB is
# still hundreds of requests per partition and fetch.
FETCH_PARTITION_BYTES = int(os.environ.get("ECTICKET_FETCH_PARTITION_BYTES", 256 * 1024))
# How soon a consumer of sender topics sees a merchant's new topic (a metadata refresh, then a rebalance of its
# group): the client's default is 5 minutes.
TOPIC_DISCOVERY_MS = int(os.environ.get("ECTICKET_TOPIC_DISCOVERY_MS", "5000"))


def assignors(*, follows_senders: bool) -> tuple[type[AbstractPartitionAssignor], ...]:
    """How a group shares its partitions out, in order of preference.

    A consumer of fixed topics prefers the range assignor: it gives every member the same partition numbers of each
    topic, so topics keyed alike and equally partitioned (the domain events, all keyed merchant/order over 6
    partitions) bring all of one order's events to one instance. aiokafka's default, round robin, deals the
    partitions of all topics out in turn: with two settlement instances every order's redemption events went to the
    other instance from its payment and issuance (docs/decisions.md, "Co-partitioned topics read by one instance").
    Round robin stays second, so a group in a rolling upgrade, old members knowing only it, still agrees on one.
    Per-sender request topics (one small topic per merchant, found by pattern) keep round robin: range would hand
    every one-partition topic to the first member.
    """
    if follows_senders:
        return (RoundRobinPartitionAssignor,)
    return (RangePartitionAssignor, RoundRobinPartitionAssignor)


class Stopped(Exception):
    """The service is stopping while a batch waits for the database: leave without committing its offsets."""


class Suspect(Exception):
    """A non-transient failure: maybe the message's fault, maybe a fault not classified yet."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(repr(cause))
        self.cause = cause


@dataclass
class ConsumerRunner:
    name: str  # consumer group and producer name, e.g. "issuance"
    schema: str
    pool: asyncpg.Pool
    bootstrap: str
    routes: Mapping[str, Route[Any]]
    clock: Clock
    max_batch: int = 500
    # A transaction holds at most this many bytes of records, however few they are: 500 TicketsIssued of 500 tickets
    # each (their envelopes 26 MB parsed) had been one, and set redemption's resident memory for the rest of its life.
    # 1 MiB, not 2 (as before): 8 MB less at redemption's peak in the same benchmark.
    max_batch_bytes: int = field(
        default_factory=lambda: int(os.environ.get("ECTICKET_BATCH_MAX_BYTES", MAX_BATCH_BYTES))
    )
    # Static group membership (ECTICKET_INSTANCE_ID, unique per instance of a service, stable across restarts): a
    # restarted instance gets its partitions back at once instead of the whole group pausing for a rebalance.
    # None: dynamic membership (tests that start throwaway copies of a service).
    instance_id: str | None = field(default_factory=lambda: os.environ.get("ECTICKET_INSTANCE_ID") or None)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    # The platform event keys that vouch for every record on a topic only the platform writes (shared/infra/seal.py).
    keyring: Keyring = field(default_factory=platform_keyring)

    def __post_init__(self) -> None:
        self.routes = Routes(self.routes)

    async def run(self) -> None:
        # A route on a catalog topic merchants have doors to takes every sender's own topic too, found by pattern.
        follows_senders = not SENDER_TOPIC_BASES.isdisjoint(self.routes)
        consumer = AIOKafkaConsumer(
            *([] if follows_senders else self.routes),
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
            group_instance_id=self.instance_id,
            # Short while records flow, longer when idle (`fetch_pacing` says why).
            fetch_max_wait_ms=IDLE_WAIT_MS,
            max_partition_fetch_bytes=FETCH_PARTITION_BYTES,
            metadata_max_age_ms=TOPIC_DISCOVERY_MS if follows_senders else 300_000,
            partition_assignment_strategy=assignors(follows_senders=follows_senders),
            **kafka_security(),
        )
        guard = CrashGuard(self.pool, self.name)
        await consumer.start()
        if follows_senders:
            consumer.subscribe(pattern=subscription_pattern(list(self.routes)))
        pacing = FetchPacing(consumer)
        commits = OffsetCommits(consumer)
        try:
            while not self.stopping.is_set():
                batch = await consumer.getmany(timeout_ms=200, max_records=self.max_batch)
                pacing.after_poll(sum(len(records) for records in batch.values()))
                if not self.ready.is_set() and consumer.assignment():
                    self.ready.set()
                if batch:
                    pacing.after_batch(await self._consume(commits, guard, _inbound(batch)))
        except Stopped:
            log.info("%s: stopping with a batch unapplied; it will be fetched again", self.name)
        finally:
            try:
                await commits.settled()
            finally:
                await consumer.stop()

    async def _consume(self, commits: OffsetCommits, guard: CrashGuard, records: list[Inbound]) -> bool:
        """Apply a batch; False when it held only records this consumer skips (another service's requests)."""
        careful = await self.transient_retried(lambda: guard.enter(records))
        handled = bool(careful)
        for record in (r for r in records if (r.topic, r.partition) in careful):
            if await self.transient_retried(lambda: guard.died_alone_on(record)):  # noqa: B023 (awaited here)
                await self._dead_letter_crash(record)
            else:
                await self.process([record])
            await commits.commit_past([record])
            # Landed before the next one is handled: were the process to die on it, a restart must resume at it,
            # not at this one again (which would reset the guard's count of deaths on it).
            await commits.settled()
        rest = [r for r in records if (r.topic, r.partition) not in careful]
        for part in by_bytes(rest, self.max_batch_bytes):
            handled = await self.process(part) or handled
            await commits.commit_past(part)
        return handled

    async def process(self, records: Sequence[Inbound]) -> bool:
        """Apply a batch durably; retries transient failures, isolates and dead-letters a poison message. False when
        every record was skipped (`Route.wanted`, or unreadable where the route leaves that to another service)."""
        if not records:
            return False
        started = time.perf_counter()
        items: list[Item] = []
        letters: list[DeadLetter] = []
        for record in records:
            route = self.routes[record.topic]
            # Before anything reads its bytes: a record no platform process sealed is never acted on, whatever it
            # says (a forged TicketsIssued is well-formed). Every consumer keeps it: it is not a stranger's noise
            # on a merchant topic but someone writing where only the platform may.
            if is_sealed_topic(record.topic):
                problem = self.keyring.problem(record.topic, record.key, record.value, record.headers)
                if problem is not None:
                    provenance_log.warning(
                        "%s: %s on %s/%d/%d", self.name, problem, record.topic, record.partition, record.offset
                    )
                    letters.append(DeadLetter(record, Stage.PARSE, problem))
                    continue
            try:
                parsed = route.parse(record)
                if route.wanted is None or route.wanted(parsed.body):
                    items.append((record, parsed))
            except Unparseable as exc:
                if route.keeps_unparseable:
                    letters.append(DeadLetter(record, Stage.PARSE, str(exc)))
            except Exception as exc:  # a parser bug must not stop the consumer either
                log.exception("%s: parser failed on %s/%d/%d", self.name, record.topic, record.partition, record.offset)
                letters.append(DeadLetter(record, Stage.PARSE, f"parser failed: {exc!r}"))
        if items or letters:  # else a batch of other services' requests only: nothing to store
            await self._settle(items, letters)
        metrics.batch_applied(self.name, [r.topic for r in records], time.perf_counter() - started)
        return bool(items or letters)

    async def _settle(self, items: list[Item], letters: Sequence[DeadLetter] = ()) -> None:
        """Apply `items` (storing `letters` with them); a failing message is found by bisection."""
        try:
            await self.transient_retried(lambda: self._apply(items, letters))
            return
        except Suspect as first:
            failure = first
        if len(items) > 1:
            middle = len(items) // 2
            await self._settle(items[:middle], letters)
            await self._settle(items[middle:])
            return
        backoff = Backoff(most=MAX_BACKOFF_SECONDS)
        while True:  # one message: poison only if it fails the same way again while the database answers
            await self._until_database_answers()
            try:
                await self.transient_retried(lambda: self._apply(items, letters))
                return
            except Suspect as again:
                if items and _same_failure(failure.cause, again.cause):
                    break
                if not items:  # only dead letters, which cannot fail on content: something else is broken
                    log.error("%s: storing dead letters fails: %r", self.name, again.cause)
                failure = again
            await self._pause(backoff.next())  # a different failure each time must not spin
        await self._dead_letter_poison(items[0], letters, failure.cause)

    async def _dead_letter_poison(self, item: Item, letters: Sequence[DeadLetter], cause: BaseException) -> None:
        record, parsed = item
        log.error("%s: dead-lettering %s/%d/%d: %r", self.name, record.topic, record.partition, record.offset, cause)
        poisoned = [*letters, DeadLetter(record, Stage.HANDLE, f"handler error: {cause!r}")]
        notices = self._poison_notices(record, parsed, repr(cause))
        try:
            await self.transient_retried(lambda: self._apply([], poisoned, notices))
        except Suspect as exc:  # the sender's answer itself cannot be stored (its content): keep the dead letter
            log.error("%s: the answer to a dead-lettered message cannot be stored (%r)", self.name, exc.cause)
            await self._settle([], poisoned)

    async def _dead_letter_crash(self, record: Inbound) -> None:
        """Store the message first (that cannot crash), then try to answer its sender (that might)."""
        error = "the consumer process died while handling this message alone, after dying in its batch"
        log.error("%s: %s (%s/%d/%d)", self.name, error, record.topic, record.partition, record.offset)
        letter = DeadLetter(record, Stage.CRASH, error)
        if not await self.transient_retried(lambda: self._store_letters([letter])):
            return  # stored by an earlier life of this process, which then died answering: do not answer again
        try:
            route = self.routes[record.topic]
            notices = self._poison_notices(record, route.parse(record), error)
            await self.transient_retried(lambda: self._apply([], [], notices))
        except Exception as exc:
            log.error("%s: no answer for the crashing message (%r)", self.name, exc)

    def _poison_notices(self, record: Inbound, parsed: Parsed[Any], error: str) -> list[Outgoing]:
        """What the route tells the sender of a message it could not handle (e.g. an INTERNAL_ERROR reply)."""
        hook = self.routes[record.topic].on_poison
        if hook is None:
            return []
        try:
            return list(hook(record, parsed, error, self.clock.now()))
        except Exception:
            log.exception("%s: building the answer to a dead-lettered message failed", self.name)
            return []

    async def _apply(
        self, items: Sequence[Item], letters: Sequence[DeadLetter], notices: Sequence[Outgoing] = ()
    ) -> None:
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            out: list[Outgoing] = list(notices)
            stored = await deadletters.store(conn, letters, self.name)
            for letter in stored:
                out.append(deadletters.rejection_for(letter, self.name, now))
            out.extend(await apply_items(conn, self.routes, items))
            await outbox.append(conn, self.schema, out)
        metrics.dead_lettered(self.name, stored)  # counted once committed

    async def _store_letters(self, letters: Sequence[DeadLetter]) -> bool:
        """Store and announce; False when every one of them was stored before."""
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            stored = await deadletters.store(conn, letters, self.name)
            await outbox.append(conn, self.schema, [deadletters.rejection_for(x, self.name, now) for x in stored])
        metrics.dead_lettered(self.name, stored)
        return bool(stored)

    async def transient_retried(self, step: Callable[[], Awaitable[T]]) -> T:
        """Run a database step until it succeeds or fails for a reason other than the infrastructure (Suspect)."""
        backoff = Backoff(most=MAX_BACKOFF_SECONDS)
        while True:
            try:
                return await step()
            except Exception as exc:
                if not is_transient(exc):
                    raise Suspect(exc) from exc
                delay = backoff.next()
                log.warning("%s: transient failure, retrying in %.1fs: %r", self.name, delay, exc)
            await self._pause(delay)

    async def _until_database_answers(self) -> None:
        backoff = Backoff(most=MAX_BACKOFF_SECONDS)
        while True:
            try:
                async with asyncio.timeout(5), self.pool.acquire() as conn:
                    await conn.fetchval("SELECT 1")
                return
            except Exception as exc:
                delay = backoff.next()
                log.warning("%s: database does not answer (%r), retrying in %.1fs", self.name, exc, delay)
            await self._pause(delay)

    async def _pause(self, seconds: float) -> None:
        if self.stopping.is_set():
            raise Stopped
        await asyncio.sleep(seconds)


async def apply_items(
    conn: asyncpg.Connection, routes: Mapping[str, Route[Any]], items: Sequence[Item]
) -> list[Outgoing]:
    """Inbox claim (for the routes that keep one), then each route's handler with its fresh messages in arrival
    order, the handlers in the order their routes were declared.

    Declared order, not the order the batch's topics happened to arrive in: every transaction of the service then
    takes its row locks in one order, handler after handler (settlement declares the ledger before the bank's
    statements, so an instance writing a new account and a reconciliation item never waits on another instance
    that wrote them the other way round: a deadlock). Records of different topics have no order between them to
    keep."""
    out: list[Outgoing] = []
    fresh = await _claim(conn, [p.message_id for r, p in items if routes[r.topic].inbox])
    fresh.update(p.message_id for r, p in items if not routes[r.topic].inbox)
    batched: dict[BatchHandler[Any], list[Item]] = {handle: [] for handle in _handlers_in_order(routes)}
    for record, item in items:
        if item.message_id in fresh:
            fresh.discard(item.message_id)  # a repeat inside the same batch is a duplicate too
            batched.setdefault(routes[record.topic].handle, []).append((record, item))
    for handle, group in batched.items():
        if group:
            out.extend(await handle(conn, group))
    return out


def _handlers_in_order(routes: Mapping[str, Route[Any]]) -> list[BatchHandler[Any]]:
    return list(dict.fromkeys(route.handle for route in routes.values()))


def _same_failure(first: BaseException, second: BaseException) -> bool:
    return type(first) is type(second) and getattr(first, "sqlstate", None) == getattr(second, "sqlstate", None)


async def _claim(conn: asyncpg.Connection, ids: list[object]) -> set[object]:
    if not ids:
        return set()
    rows = await conn.fetch(
        "INSERT INTO inbox (message_id) SELECT unnest($1::uuid[]) ON CONFLICT DO NOTHING RETURNING message_id",
        ids,
    )
    return {r["message_id"] for r in rows}


def by_bytes(records: list[Inbound], most: int) -> list[list[Inbound]]:
    """`records` in order, cut into runs of at most `most` bytes of values (a record larger than that alone)."""
    parts: list[list[Inbound]] = []
    size = 0
    for record in records:
        if not parts or (size + len(record.value) > most and parts[-1]):
            parts.append([])
            size = 0
        parts[-1].append(record)
        size += len(record.value)
    return parts


def _inbound(batch: Mapping[TopicPartition, list[Any]]) -> list[Inbound]:
    return [
        Inbound(r.topic, r.partition, r.offset, r.key, r.value or b"", r.timestamp, tuple(r.headers or ()))
        for records in batch.values()
        for r in records
    ]
