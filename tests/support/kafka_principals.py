"""Kafka clients that act as a given principal and report what the broker let them do (tests/integration/
test_kafka_acls.py). A refusal is what the broker answers: an authorisation error, never a timeout. Every client is stopped even when
its start failed: one left unclosed fails whichever test is running when it is collected."""

from __future__ import annotations

import asyncio
import contextlib
import os

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from shared.infra.kafka_auth import kafka_security

TOPIC_REFUSED = 29  # Kafka's TOPIC_AUTHORIZATION_FAILED
# Passwords handed to a test rather than kept in the instance's credentials folder (a merchant's own principal,
# made by `merchant-connect`).
PASSWORDS: dict[str, str] = {}


def _security(principal: str) -> dict[str, object]:
    return kafka_security(principal, PASSWORDS.get(principal))


async def writes_refused(bootstrap: str, principal: str, topics: list[str]) -> dict[str, bool]:
    """Per topic: True when the broker refused `principal` a record on it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **_security(principal))
    refused: dict[str, bool] = {}
    try:
        await producer.start()
        for topic in topics:
            try:
                await asyncio.wait_for(producer.send_and_wait(topic, b'{"forged": true}', key=b"acl-test"), 20)
                refused[topic] = False
            except TopicAuthorizationFailedError:
                refused[topic] = True
    finally:
        await producer.stop()
    return refused


async def reads_refused(bootstrap: str, principal: str, topics: list[str]) -> dict[str, bool]:
    """Per topic: True when `principal` may not read it: the broker hides it (no Describe, so no metadata to fetch
    with) or refuses the fetch itself (a principal that may write a topic sees it, and is refused at the fetch)."""
    visible = await _described(bootstrap, principal, topics)
    refused = {topic: not visible[topic] for topic in topics}
    fetched = [t for t in topics if visible[t]]
    if fetched:
        for topic in await _fetches_refused(bootstrap, principal, fetched):
            refused[topic] = True
    return refused


async def _described(bootstrap: str, principal: str, topics: list[str]) -> dict[str, bool]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **_security(principal))
    try:
        await admin.start()
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    return {d["topic"]: d["error_code"] != TOPIC_REFUSED for d in described}


async def _fetches_refused(bootstrap: str, principal: str, topics: list[str], seconds: float = 1.5) -> set[str]:
    """The topics whose fetch the broker refused within `seconds` (a fetch is answered within 100 ms here, a refusal
    once per getmany: the loop runs until every topic was refused or the time is up)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100, **_security(principal)
    )
    refused: set[str] = set()
    try:
        await consumer.start()
        partitions = [TopicPartition(topic, 0) for topic in topics]
        consumer.assign(partitions)
        for partition in partitions:
            consumer.seek(partition, 0)  # a position of its own: no ListOffsets before the fetch
        deadline = asyncio.get_running_loop().time() + seconds
        while len(refused) < len(topics) and asyncio.get_running_loop().time() < deadline:
            try:
                await consumer.getmany(timeout_ms=100)
            except TopicAuthorizationFailedError as exc:
                refused.add(str(exc.args[0]))
        return refused
    finally:
        await consumer.stop()


async def group_refused(bootstrap: str, principal: str, group: str, topic: str) -> bool:
    """True when the broker refuses `principal` a place in consumer group `group` (reading `topic`)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False, **_security(principal)
    )
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=3000)
        return False
    except GroupAuthorizationFailedError:
        return True
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def end_offsets(bootstrap: str, topic: str, partitions: int) -> dict[int, int]:
    """As admin (who may read everything): the end offset of each partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_security("admin"))
    try:
        await consumer.start()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in range(partitions)])
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


def as_admin() -> dict[str, str]:
    """The environment for a subprocess that must act as `admin`: the audit CLI runs as the read-only `auditor`,
    which may read the platform's own topics only, and a test that audits its own copies of them (topics with a
    suffix) runs it so (with KAFKA_AUTH=none the principal is ignored)."""
    return {**os.environ, "KAFKA_PRINCIPAL": "admin"}
