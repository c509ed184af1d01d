"""Every watched consumer group's lag: its committed offsets against the end offsets of the topics it reads."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shared.infra.kafka_auth import kafka_security


class ConsumerLag:
    def __init__(self, bootstrap: str, groups: Sequence[str]) -> None:
        self._bootstrap = bootstrap
        self._groups = groups
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> None:
        # A consumer in no group, fetching nothing: only for end offsets.
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, enable_auto_commit=False, **kafka_security())
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id="ops-lag", **kafka_security())
        try:
            await consumer.start()
            await admin.start()
        except BaseException:
            # The dashboard tries again at its next tick (a broker outage): a failed start must leave no client behind.
            await consumer.stop()
            await admin.close()
            raise
        self._consumer, self._admin = consumer, admin

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()

    async def read(self) -> dict[str, dict[str, int]]:
        """group -> {"lag": records not yet committed, "partitions": partitions with a committed offset}.

        A group that never committed (not started yet) is absent: its lag is unknown, not zero."""
        assert self._admin is not None and self._consumer is not None, "started"
        result: dict[str, dict[str, int]] = {}
        for group in self._groups:
            committed = await self._admin.list_consumer_group_offsets(group)
            offsets = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
            if not offsets:
                continue
            ends = await self._consumer.end_offsets(list(offsets))
            lag = sum(max(0, int(ends[tp]) - int(offset)) for tp, offset in offsets.items())
            result[group] = {"lag": lag, "partitions": len(offsets)}
        return result
