"""Nobody gets in where they don't belong: every principal tries what shared/access.py does not grant it and the
broker refuses (on a broker started with KAFKA_AUTH=scram, e.g. `KAFKA_AUTH=scram make test`; docs/security.md)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError

from shared.access import ACCESS, AUDITOR, OPS, RUNTIME_WRITES, group_of
from shared.infra.kafka_auth import auth_mode, kafka_security
from shared.settings import Settings
from shared.topics import BY_NAME, CATALOG, ISSUANCE_EVENTS, SETTLEMENT_EVENTS
from tests.support.kafka_principals import end_offsets, group_refused, reads_refused, writes_refused

pytestmark = pytest.mark.skipif(auth_mode() != "scram", reason="the broker does not authenticate (KAFKA_AUTH=none)")

TOPICS = [t.name for t in CATALOG]


@pytest.mark.parametrize("principal", sorted(ACCESS))
async def test_each_principal_is_refused_every_write_it_is_not_granted(topics: Settings, principal: str) -> None:
    forbidden = [t for t in TOPICS if t not in ACCESS[principal].writes]
    refused = await writes_refused(topics.kafka_bootstrap, principal, forbidden)
    assert [t for t in forbidden if not refused[t]] == []


@pytest.mark.parametrize("principal", sorted(ACCESS))
async def test_each_principal_is_refused_every_read_it_is_not_granted(topics: Settings, principal: str) -> None:
    forbidden = [t for t in TOPICS if t not in ACCESS[principal].reads]
    refused = await reads_refused(topics.kafka_bootstrap, principal, forbidden)
    assert [t for t in forbidden if not refused[t]] == []


@pytest.mark.parametrize("principal", sorted(ACCESS))
async def test_each_principal_may_read_what_it_is_granted(topics: Settings, principal: str) -> None:
    # The other half: the refusals above are the ACLs, not a principal that cannot do anything at all.
    granted = sorted(ACCESS[principal].reads)
    refused = await reads_refused(topics.kafka_bootstrap, principal, granted)
    assert [t for t in granted if refused[t]] == []


async def test_issuance_cannot_write_a_settlement_fact(topics: Settings) -> None:
    refused = await writes_refused(topics.kafka_bootstrap, "issuance", [SETTLEMENT_EVENTS])
    assert refused == {SETTLEMENT_EVENTS: True}


async def test_the_ops_app_and_the_auditor_write_no_platform_topic(topics: Settings) -> None:
    # The ops app's relay publishes only its dead letters and its chain's checkpoints, like every service.
    for principal, allowed in ((OPS, RUNTIME_WRITES), (AUDITOR, frozenset())):
        others = [t for t in TOPICS if t not in allowed]
        refused = await writes_refused(topics.kafka_bootstrap, principal, others)
        assert all(refused.values()), (principal, refused)


async def test_the_ops_app_writes_its_own_tables(topics: Settings) -> None:
    name = f"ops-acl-probe-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=topics.kafka_bootstrap, **kafka_security(OPS))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1)])
    finally:
        await admin.close()
    assert await writes_refused(topics.kafka_bootstrap, OPS, [name]) == {name: False}


async def test_a_service_cannot_join_another_services_consumer_group(topics: Settings) -> None:
    consumers = sorted(p for p in ACCESS if ACCESS[p].groups and p != OPS)
    for principal, other in zip(consumers, [*consumers[1:], consumers[0]], strict=True):
        topic = sorted(ACCESS[principal].reads)[0]
        assert await group_refused(topics.kafka_bootstrap, principal, group_of(other), topic), (principal, other)


async def test_a_forged_tickets_issued_from_an_unauthorised_principal_never_reaches_the_topic(
    topics: Settings,
) -> None:
    partitions = BY_NAME[ISSUANCE_EVENTS].partitions
    before = await end_offsets(topics.kafka_bootstrap, ISSUANCE_EVENTS, partitions)
    forged = json.dumps({"event_type": "TicketsIssued", "producer": "issuance", "payload": {"tickets": []}}).encode()
    for principal in ("gateway", "redemption", "query", OPS):
        producer = AIOKafkaProducer(bootstrap_servers=topics.kafka_bootstrap, **kafka_security(principal))
        await producer.start()
        try:
            with pytest.raises(Exception, match="TopicAuthorizationFailed"):
                await producer.send_and_wait(ISSUANCE_EVENTS, forged, key=b"forger/order")
        finally:
            await producer.stop()
    assert await end_offsets(topics.kafka_bootstrap, ISSUANCE_EVENTS, partitions) == before


async def test_a_client_without_credentials_or_with_a_wrong_password_cannot_connect(topics: Settings) -> None:
    wrong = {**kafka_security("issuance"), "sasl_plain_password": "not-the-password"}
    for credentials in ({}, wrong):
        producer = AIOKafkaProducer(bootstrap_servers=topics.kafka_bootstrap, request_timeout_ms=5000, **credentials)
        with pytest.raises(KafkaConnectionError):
            await producer.start()
        await producer.stop()


async def test_the_audit_refuses_to_report_on_a_log_it_may_not_read(topics: Settings) -> None:
    """As `auditor`, topics outside the platform's (here: with a suffix) are refused by the broker: the audit must
    say it cannot verify (exit 2), never report an empty log clean."""
    env = {**os.environ, "KAFKA_PRINCIPAL": AUDITOR}
    suffix = f".copy-{uuid.uuid4().hex[:6]}"
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.audit", "verify", "--quiet", "--topic-suffix", suffix,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 2, stderr
    assert b"may not read it" in stderr and b"'auditor'" in stderr
