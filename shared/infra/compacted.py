"""An in-memory copy of a compacted topic (merchant config, products, test clocks), kept current by tailing it.

A miss must be cheap (anyone can name an unknown merchant) yet must still find a record published just before the
message that names it. So the view remembers when it was last *proved current*: when its tail had reached end
offsets read after that instant. A miss within `fresh_for` of that instant is answered from memory; a later one
reads the end offsets again, once for every miss waiting meanwhile (docs/decisions.md, "Cheap misses").

Only the admin CLI writes these topics, and it seals every record (shared/infra/seal.py): a record without the
platform's seal, a tombstone too, is skipped, so whoever can write the topic cannot change a merchant's notify URLs
or escrow days, a product's price, or delete a merchant (docs/security.md, "Provenance").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.infra.kafka_auth import kafka_security
from shared.infra.seal import Keyring, platform_keyring
from shared.infra.topics_admin import partitions_of

log = logging.getLogger(__name__)
# One line per kind every 10 s (shared/infra/logs.py): anyone who can write the topic could otherwise flood the log.
provenance_log = logging.getLogger("ecticket.provenance")

T = TypeVar("T")

# A record published this long before a lookup is always found; one published later is found once the tail has
# applied it (milliseconds: the tail's fetch waits at the broker and is answered as soon as the record is written).
FRESH_FOR_SECONDS = 0.25
CATCH_UP_LIMIT_SECONDS = 10.0


class CompactedView(Generic[T]):
    def __init__(
        self,
        bootstrap: str,
        topic: str,
        parse: Callable[[bytes], T],
        fresh_for: float = FRESH_FOR_SECONDS,
        *,
        check_seals: bool = True,
        only: frozenset[str] | None = None,
    ) -> None:
        """`check_seals=False` only for `shared.admin seal-configuration`, which reads the records from before the seal.
        `only`: the keys to keep, for a command about one merchant: the others' records are passed over before their
        seal is checked or their value parsed (a merchant's parse decrypts its keys: with 10,000 merchants on the topic,
        200 admin CLI fuzz inputs took 33 CPU-s reading them all, 6 CPU-s with `only`)."""
        self._bootstrap = bootstrap
        self._keyring: Keyring | None = platform_keyring() if check_seals else None
        self._topic = topic
        self._parse = parse
        self._fresh_for = fresh_for
        self._only = None if only is None else frozenset(key.encode() for key in only)
        self._items: dict[str, T] = {}
        self._consumer: AIOKafkaConsumer | None = None
        # End offsets are asked on a connection of their own: on the tail's connection the broker answers them only
        # after the tail's parked fetch returns, up to fetch_max_wait_ms (500 ms) later (measured: 505 ms a miss).
        self._offsets: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._task: asyncio.Task[None] | None = None
        self._current_since = float("-inf")  # loop time: every record written before it is in _items
        self._catching_up: asyncio.Task[None] | None = None
        self._advanced = asyncio.Event()  # set (and replaced) each time the tail returns from a fetch

    async def start(self) -> None:
        """Follow the topic from its beginning, and return once the view has read up to its end. A start that fails
        or is cancelled (a broker outage, a caller's timeout) stops what it made: no client is left open behind it."""
        try:
            await self._start()
        except BaseException:
            await asyncio.gather(self.stop(), return_exceptions=True)
            raise

    async def _start(self) -> None:
        # No consumer group: every process reads the whole topic from the beginning.
        partitions = (await partitions_of(self._bootstrap, [self._topic]))[self._topic]
        # Kept before they start, so that stop() closes them whatever step fails.
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, **kafka_security()
        )
        self._offsets = AIOKafkaConsumer(
            bootstrap_servers=self._bootstrap, enable_auto_commit=False, **kafka_security()
        )
        await self._consumer.start()
        await self._offsets.start()
        self._partitions = [TopicPartition(self._topic, p) for p in partitions]
        self._consumer.assign(self._partitions)
        await self._consumer.seek_to_beginning(*self._partitions)
        self._task = asyncio.create_task(self._tail(), name=f"view:{self._topic}")
        await self.catch_up()

    async def stop(self) -> None:
        for task in (self._task, self._catching_up):
            if task:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        for client in (self._consumer, self._offsets):
            if client:
                await client.stop()

    def get(self, key: str) -> T | None:
        return self._items.get(key)

    def values(self) -> list[T]:
        return list(self._items.values())

    def items(self) -> dict[str, T]:
        return dict(self._items)

    async def lookup(self, key: str) -> T | None:
        """`get`, but a miss first makes sure the view is current (the record may be just published)."""
        found = self._items.get(key)
        if found is None and not self.is_current():
            await self.catch_up()
            found = self._items.get(key)
        return found

    def is_current(self) -> bool:
        """True while the view was proved current less than `fresh_for` ago."""
        return asyncio.get_running_loop().time() - self._current_since <= self._fresh_for

    async def catch_up(self) -> None:
        """Read up to the topic's end offsets as of now; callers arriving meanwhile share the one read."""
        if self._catching_up is None or self._catching_up.done():
            self._catching_up = asyncio.create_task(self._read_to_end(), name=f"catch-up:{self._topic}")
            self._catching_up.add_done_callback(_observe)
        # Shielded: a cancelled caller must not cancel the read the other callers wait for.
        await asyncio.shield(self._catching_up)

    async def _read_to_end(self) -> None:
        assert self._consumer is not None and self._offsets is not None
        asked_at = asyncio.get_running_loop().time()
        async with asyncio.timeout(CATCH_UP_LIMIT_SECONDS):
            ends = await self._offsets.end_offsets(self._partitions)
            while True:
                advanced = self._advanced  # taken before the check, so a fetch returning meanwhile still wakes us
                if await self._reached(ends):
                    break
                await advanced.wait()
        self._current_since = max(self._current_since, asked_at)

    async def _reached(self, ends: dict[TopicPartition, int]) -> bool:
        assert self._consumer is not None
        for tp, end in ends.items():
            if await self._consumer.position(tp) < end:
                return False
        return True

    async def _tail(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    if self._only is not None and record.key not in self._only:
                        continue
                    if self._sealed(record.key, record.value, record.headers or ()):
                        self._apply(record.key, record.value)
            # Wake catch-ups waiting for this position (also on an empty fetch: the position may still move).
            advanced, self._advanced = self._advanced, asyncio.Event()
            advanced.set()

    def _sealed(self, key: bytes | None, value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> bool:
        if self._keyring is None:
            return True
        # A tombstone is sealed over an empty value (shared/admin/publish.py).
        problem = self._keyring.problem(self._topic, key, value or b"", headers)
        if problem is not None:
            provenance_log.warning("skipping a record on %s (key %r): %s", self._topic, key, problem)
        return problem is None

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        # Any failure is the record's: the view skips it and keeps tailing (a dead tail would freeze the view and
        # turn every later miss into a 10 s timeout).
        try:
            if key is None:
                return
            name = key.decode()
            if value is None:
                self._items.pop(name, None)  # tombstone
                return
            self._items[name] = self._parse(value)
        except Exception:
            log.exception("ignoring an unreadable record on %s (key %r)", self._topic, key)


def _observe(task: asyncio.Task[None]) -> None:
    """Retrieve a failed catch-up's error (its callers got it) so asyncio does not report it as never retrieved."""
    if not task.cancelled():
        task.exception()
