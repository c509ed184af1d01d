"""load -> fold -> save per batch: the agents hand their batches here, and ack only what was applied.

A batch's records are parsed, grouped by source partition, folded (pure) against that partition's state and the
orders they touch, and written back to the tables with the partition they were read from (their changelog
partition). Records no contract reads are dead-lettered first (stored with their raw bytes and announced). Only
then is each record acknowledged: an exception anywhere above leaves the whole batch unacknowledged, so its
offsets are never committed and the batch is read again after a restart.
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
from services.ops.domain.fold import fold
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


@dataclass
class Folding:
    """The shell around `fold` for one agent: its partition-state table and (for the event topics) the orders."""

    states: Any  # faust Table: "p<partition>" -> PartitionState JSON
    orders: Any | None  # faust Table: "merchant/trade_no" -> OrderRecord JSON
    pool: Callable[[], Awaitable[asyncpg.Pool]]
    live: Live
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
        for partition, facts in by_partition.items():
            self._apply(partition, facts)
        for event in events:
            await stream.ack(event)
        self.live.bump()
        metrics.batch_applied(store.SCHEMA, [e.message.topic for e in events], time.perf_counter() - started)

    def _apply(self, partition: int, facts: list[Fact | Poison]) -> None:
        key = f"p{partition}"
        orders: dict[str, dict[str, Any]] = {}
        if self.orders is not None:
            for fact in facts:
                if isinstance(fact, Fact) and "/" in fact.key and fact.key in self.orders:
                    orders[fact.key] = self.orders[fact.key]
        folded = fold(self.states.get(key), orders, facts)
        if not folded.applied:
            return  # every record was a redelivery
        _put(self.states, key, folded.state, partition)
        if self.orders is not None:
            for order_key, record in folded.orders.items():
                _put(self.orders, order_key, record, partition)
        self.applied_events[0] += folded.applied


def _put(table: Any, key: str, value: Any, partition: int) -> None:
    """table[key] = value, its changelog record on the source partition (faust would read that partition from the
    current event, which a batch taken with `noack_take` does not set in the agent's task)."""
    table.data[key] = value
    table.send_changelog(partition, key, value)


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
