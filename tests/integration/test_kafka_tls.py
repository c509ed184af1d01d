"""The broker's client listener speaks TLS and nothing else (on a broker started with KAFKA_TLS=1, e.g.
`KAFKA_TLS=1 make test`; docs/security.md "TLS"): a client that trusts the instance's CA talks to it, a plaintext
client cannot, and a client that trusts another CA, or expects another host name, fails the handshake."""

from __future__ import annotations

import asyncio
import os
import ssl
import stat
import uuid
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from shared.infra.kafka_auth import kafka_security, tls_context, tls_enabled
from shared.settings import Settings
from tests.support.tls import make_ca

pytestmark = pytest.mark.skipif(not tls_enabled(), reason="the broker does not speak TLS (KAFKA_TLS=0)")


def _first_broker(bootstrap: str) -> tuple[str, int]:
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    return host, int(port)


async def _handshake(bootstrap: str, context: ssl.SSLContext, server_hostname: str | None = None) -> None:
    """A bare TLS handshake with the first broker: it raises what the certificate check says, nothing Kafka adds."""
    host, port = _first_broker(bootstrap)
    _, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, ssl=context, server_hostname=server_hostname or host), 10
    )
    writer.close()
    await writer.wait_closed()


def _without_tls(security: dict[str, object]) -> dict[str, object]:
    """The same client settings (SCRAM credentials included) with TLS taken away."""
    plain = {k: v for k, v in security.items() if k != "ssl_context"}
    plain["security_protocol"] = "SASL_PLAINTEXT" if "sasl_mechanism" in security else "PLAINTEXT"
    return plain


async def test_a_client_that_trusts_the_instances_ca_produces_and_consumes(topics: Settings) -> None:
    topic = f"tls-probe-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=topics.kafka_bootstrap, **kafka_security())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1")))])
        producer = AIOKafkaProducer(bootstrap_servers=topics.kafka_bootstrap, acks="all", **kafka_security())
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, b"over TLS", key=b"k")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            bootstrap_servers=topics.kafka_bootstrap, enable_auto_commit=False, **kafka_security()
        )
        await consumer.start()
        try:
            partition = TopicPartition(topic, 0)
            consumer.assign([partition])
            consumer.seek(partition, sent.offset)
            record = await asyncio.wait_for(consumer.getone(), 30)
        finally:
            await consumer.stop()
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    assert (record.key, record.value) == (b"k", b"over TLS")


async def test_a_plaintext_client_cannot_talk_to_the_tls_listener(topics: Settings) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=topics.kafka_bootstrap, request_timeout_ms=5000, **_without_tls(kafka_security())
    )
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


async def test_a_client_that_trusts_another_ca_fails_the_handshake(topics: Settings, tmp_path: Path) -> None:
    stranger = ssl.create_default_context(cafile=str(make_ca(tmp_path)))
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await _handshake(topics.kafka_bootstrap, stranger)
    # And a Kafka client so configured gets nowhere (its error hides the cause, hence the bare handshake above).
    security = {**kafka_security(), "ssl_context": stranger}
    producer = AIOKafkaProducer(bootstrap_servers=topics.kafka_bootstrap, request_timeout_ms=5000, **security)
    with pytest.raises(KafkaConnectionError):
        await producer.start()
    await producer.stop()


async def test_the_platforms_clients_check_the_brokers_host_name(topics: Settings) -> None:
    await _handshake(topics.kafka_bootstrap, tls_context())  # the right CA and the name it was issued for: accepted
    with pytest.raises(ssl.SSLCertVerificationError, match="mismatch"):
        await _handshake(topics.kafka_bootstrap, tls_context(), server_hostname="kafka.elsewhere.example")


def test_the_instances_private_keys_are_readable_by_their_owner_only() -> None:
    folder = Path(os.environ.get("KAFKA_TLS_CA", "")).parent
    keys = [folder / name for name in ("ca.key", "broker.key", "broker.pem")]
    if not all(k.is_file() for k in keys):
        pytest.skip("the CA is not one deploy/local/infra.sh made (no key files beside KAFKA_TLS_CA)")
    assert {k.name: stat.S_IMODE(k.stat().st_mode) for k in keys} == {k.name: 0o600 for k in keys}
