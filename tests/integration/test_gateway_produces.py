"""The gateway hands concurrent requests' produces to Kafka through one task: each request returns once the broker
has its own message, all of them land in the order they were sent, and a produce the producer refuses fails only
the request that sent it."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from services.gateway.produces import Produces
from shared.infra.kafka_auth import kafka_security
from shared.sandbox.merchant import unique
from shared.settings import Settings


async def _topic(bootstrap: str) -> str:
    name = f"test.gateway-produces.{unique('GP')}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_security())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    return name


async def _read(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", **kafka_security())
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while len(values) < count:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    values += [r.value for r in records if r.value is not None]
        return values
    finally:
        await consumer.stop()


async def test_concurrent_produces_each_return_once_stored_and_land_in_the_order_sent(topics: Settings) -> None:
    topic = await _topic(topics.kafka_bootstrap)
    producer = AIOKafkaProducer(
        bootstrap_servers=topics.kafka_bootstrap, acks="all", enable_idempotence=True, **kafka_security()
    )
    await producer.start()
    try:
        produces = Produces(producer)
        sent = [f"request {n}".encode() for n in range(300)]

        await asyncio.gather(*(produces.send_and_wait(topic, value, b"merchant") for value in sent))

        assert await _read(topics.kafka_bootstrap, topic, len(sent)) == sent
    finally:
        await producer.stop()


async def test_a_refused_produce_fails_only_the_request_that_sent_it(topics: Settings) -> None:
    topic = await _topic(topics.kafka_bootstrap)
    producer = AIOKafkaProducer(bootstrap_servers=topics.kafka_bootstrap, max_request_size=10_000, **kafka_security())
    await producer.start()
    try:
        produces = Produces(producer)
        values = [b"small 1", b"x" * 20_000, b"small 2"]  # the middle one is over the producer's request size

        outcomes = await asyncio.gather(
            *(produces.send_and_wait(topic, value, b"merchant") for value in values), return_exceptions=True
        )

        assert outcomes[0] is None and outcomes[2] is None
        assert isinstance(outcomes[1], KafkaError)
        assert await _read(topics.kafka_bootstrap, topic, 2) == [b"small 1", b"small 2"]
    finally:
        await producer.stop()
