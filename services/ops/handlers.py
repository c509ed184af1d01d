"""load -> fold -> save per batch: the agents hand their batches here, and ack only what was applied.

A batch's records are parsed, grouped by source partition, folded (pure) against that partition's state and the
orders they touch, and written back to the tables with the partition they were read from (their changelog
partition). Records no contract reads are dead-lettered first (stored with their raw bytes and announced). The
changelog records of the whole batch go straight to the producer and are awaited (acks=all) before any record is
acknowledged: an exception anywhere above leaves the whole batch unacknowledged, so its offsets are never
committed and the batch is read again after a restart; and no offset is committed before the table changes it
caused are in the changelog (faust's own `send_changelog` buffers them in its ProducerBuffer, which its commit
stops waiting for after 0.1 s without a record sent; and it cost ~100 µs a record).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from services.ops import store
from services.ops.domain.facts import Fact, Poison
from services.ops.domain.fold import ORDERS_KEPT, fold
from services.ops.inbound import parse
from shared.infra import metrics
from shared.infra.deadletters import DeadLetter, Stage
from shared.infra.messages import Inbound


class Live:
    """Wakes the dashboard's live streams when a batch changed the tables."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()

    def bump(self) -> None:
        self.version += 1
        self._changed.set()

    async def changed_since(self, version: int, seconds: float) -> bool:
        if self.version != version:
            return True
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), seconds)
        except TimeoutError:
            return False
        return True


# (topic, key, value or None for a tombstone, partition) -> the producer's future for that record
Send = Callable[[str, bytes, bytes | None, int], Awaitable[Awaitable[Any]]]


@dataclass
class Folding:
    """The shell around `fold` for one agent: its partition-state table and (for the event topics) the orders."""

    states: Any  # faust Table: "p<partition>" -> PartitionState JSON
    orders: Any | None  # faust Table: "merchant/trade_no" -> OrderRecord JSON
    pool: Callable[[], Awaitable[asyncpg.Pool]]
    live: Live
    send: Send  # the producer's send (the app's; a recorder in the unit tests)
    orders_kept: int = ORDERS_KEPT  # order records per source partition (OPS_ORDERS_KEPT)
    applied_events: list[int] = field(default_factory=lambda: [0])

    async def on_batch(self, stream: Any, events: Sequence[Any]) -> None:
        started = time.perf_counter()
        parsed = [
            (event, parse(event.message.topic, event.message.partition, event.message.offset, event.message.value))
            for event in events
        ]
        poisons = [(event, p) for event, p in parsed if isinstance(p, Poison)]
        if poisons:
            letters = [_letter(e, p) for e, p in poisons]
            await store.dead_letter(await self.pool(), letters, datetime.now(UTC))
            metrics.dead_lettered(store.SCHEMA, letters)
        by_partition: dict[int, list[Fact | Poison]] = {}
        for event, p in parsed:
            by_partition.setdefault(event.message.partition, []).append(p)
        writes = [put for partition, facts in by_partition.items() for put in self._apply(partition, facts)]
        self.live.bump()  # the tables in memory are the page's: it may show them while the changelog is written
        await _write_changelog(self.send, writes)
        for event in events:
            await stream.ack(event)
        metrics.batch_applied(store.SCHEMA, [e.message.topic for e in events], time.perf_counter() - started)

    def _apply(self, partition: int, facts: list[Fact | Poison]) -> list[Put]:
        """Fold into the tables in memory; the changelog records to write for it."""
        key = f"p{partition}"
        orders: dict[str, dict[str, Any]] = {}
        if self.orders is not None:
            for fact in facts:
                if isinstance(fact, Fact) and "/" in fact.key and fact.key in self.orders:
                    orders[fact.key] = self.orders[fact.key]
        folded = fold(self.states.get(key), orders, facts, self.orders_kept)
        if not folded.applied:
            return []  # every record was a redelivery
        puts = [Put(self.states, key, folded.state, partition)]
        if self.orders is not None:
            puts += [Put(self.orders, k, record, partition) for k, record in folded.orders.items()]
            puts += [Put(self.orders, k, None, partition) for k in folded.evicted]
        for put in puts:
            if put.value is None:
                put.table.data.pop(put.key, None)
            else:
                put.table.data[put.key] = put.value
        self.applied_events[0] += folded.applied
        return puts


@dataclass(frozen=True)
class Put:
    """table[key] = value, its changelog record on the source partition (faust would take the partition of the
    current event, which a batch taken with `noack_take` does not set)."""

    table: Any
    key: str
    value: Any  # None: the key is deleted (a tombstone on the changelog, which recovery applies as a deletion)
    partition: int


async def _write_changelog(send: Send, puts: Sequence[Put]) -> None:
    """Every record handed to the producer first (it batches them: producer_linger), then every ack awaited.

    Serialised as faust's own send_changelog would, so recovery reads them back the same. faust's bookkeeping of
    a changelog offset per record (`_on_changelog_sent`) is skipped: it only matters to a persistent store, and
    the tables are in memory (store="memory://"), recovered from the changelog's beginning."""
    acks = []
    for put in puts:
        topic = put.table.changelog_topic
        key, _ = topic.prepare_key(put.key, put.table.key_serializer)
        value = None if put.value is None else topic.prepare_value(put.value, put.table.value_serializer)[0]
        acks.append(await send(topic.get_topic_name(), key, value, put.partition))
    await asyncio.gather(*acks)


def _letter(event: Any, poison: Poison) -> DeadLetter:
    message = event.message
    record = Inbound(
        message.topic,
        message.partition,
        message.offset,
        message.key if isinstance(message.key, bytes) else None,
        message.value if isinstance(message.value, bytes) else b"",
        int(message.timestamp * 1000),
    )
    return DeadLetter(record, Stage.PARSE, poison.error)
