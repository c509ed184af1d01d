"""Where the records come from: the Kafka topics themselves, streamed (never the whole log in memory)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.audit.domain.records import Record
from shared.infra.kafka_auth import current_principal, kafka_security

# What is in flight at once is bounded (by bytes per fetch and records per poll), so memory does not grow with the
# log: a whole partition fetched at once held a few hundred MB at the peak for a hundred thousand events.
FETCH_BYTES = 1024 * 1024
MAX_RECORDS = 2000


@dataclass(frozen=True)
class Span:
    """What one topic holds to read: per partition, from which offset to which (exclusive)."""

    topic: str
    starts: dict[int, int]
    ends: dict[int, int]

    @property
    def size(self) -> int:
        return sum(self.ends[p] - self.starts[p] for p in self.ends)


class KafkaLog:
    """Reads the topics as they are when it starts (their end offsets then), from the beginning or from a time."""

    def __init__(self, bootstrap: str) -> None:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=FETCH_BYTES,
            fetch_max_bytes=4 * FETCH_BYTES,
            client_id="ecticket-audit",
            **kafka_security(),
        )

    async def start(self) -> None:
        await self._consumer.start()

    async def stop(self) -> None:
        await self._consumer.stop()

    async def spans(self, topics: Sequence[str], since: datetime | None = None) -> list[Span]:
        found = []
        for topic in topics:
            partitions = await self._partitions(topic)
            parts = [TopicPartition(topic, p) for p in sorted(partitions)]
            ends = await self._consumer.end_offsets(parts) if parts else {}
            starts = await self._consumer.beginning_offsets(parts) if parts else {}
            if since is not None and parts:
                at = await self._consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in parts})
                starts = {tp: (ends[tp] if at[tp] is None else at[tp].offset) for tp in parts}
            found.append(
                Span(topic, {tp.partition: starts[tp] for tp in parts}, {tp.partition: ends[tp] for tp in parts})
            )
        return found

    async def records(self, span: Span) -> AsyncIterator[Record]:
        """Partition by partition, each in offset order: the same order on every run (a fetch across partitions
        interleaves them as the broker answers, and a forged event's findings depend on what came before it), so
        a run resumed from a checkpoint reads the rest exactly as one uninterrupted run does."""
        for partition in sorted(p for p in span.ends if span.ends[p] > span.starts[p]):
            tp, end = TopicPartition(span.topic, partition), span.ends[partition]
            self._consumer.assign([tp])
            self._consumer.seek(tp, span.starts[partition])
            while await self._consumer.position(tp) < end:
                batches = await self._consumer.getmany(tp, timeout_ms=1000, max_records=MAX_RECORDS)
                for r in batches.get(tp, []):
                    if r.offset >= end:
                        break
                    yield Record(r.topic, r.partition, r.offset, r.timestamp, r.key, r.value or b"", tuple(r.headers))
        self._consumer.unsubscribe()

    async def _partitions(self, topic: str) -> set[int]:
        partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            await self._consumer._client.force_metadata_update()  # a new consumer knows no topic yet
            partitions = self._consumer.partitions_for_topic(topic)
        if not partitions:
            # Metadata of every topic leaves out those the principal may not describe; asked by name, the broker
            # says so. Read as empty, a refused topic would verify clean.
            client = self._consumer._client
            await client._metadata_update(client.cluster, [topic])
            refused = topic in client.cluster.unauthorized_topics
            await client.force_metadata_update()  # the view of every topic again
            if refused:
                raise TopicUnreadable(f"topic {topic}: Kafka principal {current_principal()!r} may not read it")
        return set(partitions or ())


class TopicUnreadable(Exception):
    """A topic the audit was asked to read that the broker does not let it read: never reported as empty."""
