"""What the platform published during the run, read back from its topics as it happens (from the topics' ends at
the start of the run), indexed for the stream's waits and the checks afterwards.

Everything is kept per event id, so a relay's republished copy (same id, same bytes) counts once and a second
payload under the same id is caught; records of other merchants (other tests sharing the instance) are skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.contracts.envelope import EventEnvelope
from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import partitions_of
from shared.topics import (
    INGEST_REPLIES,
    ISSUANCE_EVENTS,
    PAYMENT_EVENTS,
    REDEMPTION_EVENTS,
    SETTLEMENT_EVENTS,
    SETTLEMENT_INSTRUCTIONS,
)

WATCHED = [INGEST_REPLIES, PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_EVENTS,
           SETTLEMENT_INSTRUCTIONS]  # fmt: skip


@dataclass
class Reply:
    event_id: str
    seen_at: float  # time.monotonic() when it was read
    response: dict[str, Any]


@dataclass
class Observed:
    """The indexes; keys are the stream's own (request ids, trade numbers, ticket numbers)."""

    replies: dict[str, dict[str, Reply]] = field(default_factory=lambda: defaultdict(dict))
    payments: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # trade no -> event ids
    issued: dict[str, dict[str, dict[str, Any]]] = field(default_factory=lambda: defaultdict(dict))
    failed: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))  # trade no -> IssueFailed reasons
    ticket_events: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))  # no -> id -> type
    digests: dict[str, set[bytes]] = field(default_factory=lambda: defaultdict(set))  # event id -> payload digests
    settlement: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # event type -> ids
    records: int = 0

    def conflicts(self) -> list[str]:
        """Event ids published with more than one payload."""
        return sorted(i for i, d in self.digests.items() if len(d) > 1)


class Observer:
    def __init__(self, bootstrap: str, merchants: set[str]) -> None:
        self.bootstrap = bootstrap
        self.merchants = merchants
        self.requests: set[str] = set()  # the stream registers each request id before sending it
        self.seen = Observed()
        self._changed = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        known = await partitions_of(self.bootstrap, WATCHED)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                    max_partition_fetch_bytes=4 * 1024 * 1024, **kafka_security())  # fmt: skip
        await consumer.start()
        partitions = [TopicPartition(t, p) for t, numbers in known.items() for p in numbers]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for tp in partitions:
            await consumer.position(tp)  # resolved now: nothing published after start() is missed
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await asyncio.gather(self._consumer.stop(), return_exceptions=True)

    async def until(self, done: Any, seconds: float) -> bool:
        """Wait until `done()` is true (re-evaluated whenever records arrive); False after `seconds`."""
        deadline = time.monotonic() + seconds
        while not done():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 1.0))
        return True

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            now = time.monotonic()
            for records in batch.values():
                for r in records:
                    self._take(r.topic, EventEnvelope.from_bytes(r.value), now)
            if batch:
                self._changed.set()

    def _take(self, topic: str, envelope: EventEnvelope, now: float) -> None:
        payload = envelope.payload
        event_id = str(envelope.event_id)
        if topic == INGEST_REPLIES:
            request_id = str(payload.get("request_id"))
            if request_id not in self.requests:
                return
            self.seen.replies[request_id].setdefault(event_id, Reply(event_id, now, payload["response"]))
        elif payload.get("merchant_id") not in self.merchants:
            return
        self.seen.records += 1
        body = json.dumps([envelope.event_type, payload], sort_keys=True, default=str).encode()
        self.seen.digests[event_id].add(hashlib.sha256(body).digest())
        kind = envelope.event_type
        if kind == "PaymentConfirmed":
            self.seen.payments[payload["merchant_trade_no"]].add(event_id)
        elif kind == "IssueFailed":
            self.seen.failed[str(payload.get("merchant_trade_no"))].append(f"{payload['rtn_code']} {payload['reason']}")
        elif kind == "TicketsIssued":
            self.seen.issued[payload["ticket_trade_no"]][event_id] = payload
        elif topic == REDEMPTION_EVENTS and "ticket_no" in payload:
            self.seen.ticket_events[payload["ticket_no"]][event_id] = kind
        elif topic in (SETTLEMENT_EVENTS, SETTLEMENT_INSTRUCTIONS):
            self.seen.settlement[kind].add(event_id)
