"""What the hostile-flood benchmark watches: the outcome of each message it sent, and when a backlog is drained.

An outcome is whatever the platform published about a message: the reply to a request (by request_id), the
PaymentConfirmed/PaymentRejected of a payment result (by MerchantID and MerchantTradeNo), or a MessageRejected
naming the message's topic, partition and offset (published by each consumer that could not parse it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import partitions_of
from shared.topics import INGEST_REPLIES, PAYMENT_EVENTS, REJECTIONS

Position = tuple[str, int, int]  # topic, partition, offset of a message the benchmark sent


@dataclass
class Outcomes:
    """Every reply, payment outcome and rejection published after start(), with when it was seen."""

    bootstrap: str
    replies: dict[str, tuple[float, int, int]] = field(default_factory=dict)  # request_id -> (t, TransCode, RtnCode)
    payments: dict[tuple[str, str], str] = field(default_factory=dict)  # (merchant, order) -> outcome
    rejections: dict[Position, set[str]] = field(default_factory=lambda: defaultdict(set))  # -> consumers
    _consumer: AIOKafkaConsumer | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        topics = [INGEST_REPLIES, PAYMENT_EVENTS, REJECTIONS]
        known = await partitions_of(self.bootstrap, topics)
        tps = [TopicPartition(t, p) for t, numbers in known.items() for p in numbers]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, **kafka_security()
        )
        await self._consumer.start()
        self._consumer.assign(tps)
        await self._consumer.seek_to_end(*tps)
        for tp in tps:
            await self._consumer.position(tp)  # resolve "end" now: nothing published after start() is missed
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    self._note(record.topic, json.loads(record.value), now)

    def _note(self, topic: str, envelope: dict[str, object], now: float) -> None:
        payload = envelope["payload"]
        assert isinstance(payload, dict)
        kind = envelope["event_type"]
        if topic == INGEST_REPLIES:
            self.replies.setdefault(payload["request_id"], (now, payload["trans_code"], payload["rtn_code"]))
        elif kind == "PaymentConfirmed":
            self.payments.setdefault((payload["merchant_id"], payload["merchant_trade_no"]), "PaymentConfirmed")
        elif kind == "PaymentRejected":
            outcome = f"PaymentRejected({payload['reason']})"
            self.payments.setdefault((payload["merchant_id"], payload["merchant_trade_no"]), outcome)
        elif kind == "MessageRejected":
            where = (payload["source_topic"], payload["source_partition"], payload["source_offset"])
            self.rejections[where].add(payload["consumer"])

    async def wait_replies(self, request_ids: list[str], seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while any(r not in self.replies for r in request_ids):
            if time.perf_counter() > deadline:
                missing = sum(1 for r in request_ids if r not in self.replies)
                raise TimeoutError(f"{missing} requests not answered after {seconds:.0f} s")
            await asyncio.sleep(0.05)

    def outcome(self, position: Position, request_id: str | None, order: tuple[str, str] | None) -> str:
        """What the platform said about one message, in a few words."""
        said = []
        if request_id is not None and request_id in self.replies:
            _, trans_code, rtn_code = self.replies[request_id]
            said.append(f"reply {trans_code}/{rtn_code}")
        if order is not None and order in self.payments:
            said.append(self.payments[order])
        if position in self.rejections:
            said.append("MessageRejected by " + "+".join(sorted(self.rejections[position])))
        return ", ".join(said) or "nothing published"

    @staticmethod
    def summary(outcomes: list[str]) -> str:
        return "; ".join(f"{what} ×{count:,}" for what, count in Counter(outcomes).most_common())


@dataclass
class Drain:
    """When consumer groups have committed past a point on their topics and the outboxes have published it all."""

    bootstrap: str
    pool: asyncpg.Pool
    groups: dict[str, list[str]]  # consumer group -> the topics to watch
    schemas: list[str]  # whose outboxes must be published

    async def ends(self) -> dict[TopicPartition, int]:
        topics = sorted({t for watched in self.groups.values() for t in watched})
        known = await partitions_of(self.bootstrap, topics)
        probe = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, **kafka_security())
        await probe.start()
        try:
            ends = await probe.end_offsets([TopicPartition(t, p) for t, numbers in known.items() for p in numbers])
            return dict(ends)
        finally:
            await probe.stop()

    async def wait(self, ends: dict[TopicPartition, int], seconds: float) -> float:
        """perf_counter when every group committed up to `ends` and every outbox row written by then is
        published; TimeoutError saying who is behind after `seconds`."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, **kafka_security())
        await admin.start()
        deadline = time.perf_counter() + seconds
        try:
            while (behind := await self._behind(admin, ends)) > 0:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{behind:,} messages not consumed after {seconds:.0f} s")
                await asyncio.sleep(0.1)
        finally:
            await admin.close()
        last = {s: await self.pool.fetchval(f"SELECT coalesce(max(seq), 0) FROM {s}.outbox") for s in self.schemas}
        while await self._unpublished(last):
            if time.perf_counter() > deadline:
                raise TimeoutError(f"outboxes not published after {seconds:.0f} s")
            await asyncio.sleep(0.1)
        return time.perf_counter()

    async def _behind(self, admin: AIOKafkaAdminClient, ends: dict[TopicPartition, int]) -> int:
        behind = 0
        for group, topics in self.groups.items():
            watched = [tp for tp in ends if tp.topic in topics]
            committed = await admin.list_consumer_group_offsets(group, partitions=watched)
            # A partition the group never committed on reports offset -1: all of it is still to be read.
            done = {tp: max(0, meta.offset) for tp, meta in committed.items()}
            behind += sum(max(0, ends[tp] - done.get(tp, 0)) for tp in watched)
        return behind

    async def _unpublished(self, up_to: dict[str, int]) -> bool:
        """True while some outbox still holds an unpublished row at or before the given seq."""
        for schema, seq in up_to.items():
            query = f"SELECT first_seq <= $1 FROM {schema}.outbox_backlog()"
            if await self.pool.fetchval(query, seq):
                return True
        return False
