"""The end offsets of the event topics the read models follow, read from the broker when queries arrive.

A consumer of its own, in no group and fetching nothing: on a connection with a parked fetch the broker would
answer only after the fetch returns (docs/decisions.md, "Cheap misses in the merchant directory").
"""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import partitions_of


class EventOffsets:
    def __init__(self, bootstrap: str, topics: list[str], group: str) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._group = group
        self._partitions: list[TopicPartition] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def start(self) -> None:
        partitions = await partitions_of(self._bootstrap, self._topics)
        self._partitions = [TopicPartition(topic, p) for topic in self._topics for p in partitions[topic]]
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False, **kafka_security())
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self._bootstrap, client_id=f"{self._group}-watermarks", **kafka_security()
        )
        await consumer.start()
        await admin.start()
        self._consumer, self._admin = consumer, admin

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    async def ends(self) -> dict[str, int]:
        """The next offset to be written on each partition, keyed "topic/partition"."""
        assert self._consumer is not None, "started"
        ends = await self._consumer.end_offsets(self._partitions)
        return {f"{tp.topic}/{tp.partition}": int(offset) for tp, offset in ends.items()}

    async def committed(self) -> dict[str, int]:
        """The service's own consumer group's committed offsets: past every record it consumed, also those the
        handlers never see (duplicates the inbox skipped, dead letters), so a watermark behind them is reached."""
        assert self._admin is not None, "started"
        committed = await self._admin.list_consumer_group_offsets(self._group, partitions=self._partitions)
        return {f"{tp.topic}/{tp.partition}": int(meta.offset) for tp, meta in committed.items() if meta.offset >= 0}
