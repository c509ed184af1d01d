"""A consumer of topics from their ends: what a benchmark's watchers read, everything published after start."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import partitions_of


async def from_the_end(bootstrap: str, topics: list[str]) -> AIOKafkaConsumer:
    """Started, every partition of `topics` assigned and its end resolved now: nothing published later is missed."""
    parts = await partitions_of(bootstrap, topics)
    tps = [TopicPartition(topic, p) for topic, ps in parts.items() for p in ps]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_security())
    await consumer.start()
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)
    for tp in tps:
        await consumer.position(tp)
    return consumer
