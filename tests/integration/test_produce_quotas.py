"""The broker's produce quotas: a producer the platform does not know is held to its rate however fast it writes,
so a merchant sending through its own client id is answered meanwhile as if nothing were going on."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from shared.access import sender_principal
from shared.admin.merchant_access import connect
from shared.contracts.rtncodes import RtnCode
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import (
    CLIENT,
    EXEMPT,
    PLATFORM_PRODUCERS,
    REQUEST_SHARE,
    USER,
    Quota,
    apply_quotas,
    merchant_client_id,
    produce_quotas,
    unidentified_rate,
)
from shared.merchants.model import MerchantRecord
from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Tap
from shared.settings import Settings
from shared.topics import INGEST_REPLIES, INGEST_REQUESTS, sender_topic
from tests.support.merchants import fresh_merchant
from tests.support.strangers import a_valid_order, replied, stranger, stranger_request

pytestmark = pytest.mark.usefixtures("platform")

QUOTA = 32 * 1024  # bytes/s for unidentified producers while this test runs: little, so a loaded CI machine drains it
FLOOD_BYTES = 256 * 1024  # about 500 requests: some 8 s at the quota, well under a second unthrottled
ALLOWED_DELAY_SECONDS = 1.0


@pytest.fixture
async def low_unidentified_quota(topics: Settings) -> AsyncIterator[None]:
    await apply_quotas(topics.kafka_bootstrap, [Quota(None, QUOTA)])
    yield
    await apply_quotas(topics.kafka_bootstrap, [Quota(None, unidentified_rate() or None)])


async def flood(producer: AIOKafkaProducer, topic: str = INGEST_REQUESTS) -> tuple[list[str], float]:
    """Requests of strangers, FLOOD_BYTES of them, as fast as the broker takes them: (request ids, seconds)."""
    loop = asyncio.get_running_loop()
    started, sent, request_ids, pending = loop.time(), 0, [], []
    while sent < FLOOD_BYTES:
        merchant_id = stranger()
        request = stranger_request("Issue", merchant_id)
        body = json.dumps(request).encode()
        pending.append(await producer.send(topic, body, key=merchant_id.encode()))
        request_ids.append(request["request_id"])
        sent += len(body)
    await asyncio.gather(*pending)
    return request_ids, loop.time() - started


async def test_setup_exempts_the_platforms_producers_and_gives_each_merchant_its_records_quota(
    topics: Settings,
) -> None:
    known = await fresh_merchant(topics)
    quotas = await produce_quotas(topics.kafka_bootstrap)
    assert all(quotas[client] >= EXEMPT for client in PLATFORM_PRODUCERS)
    assert quotas[merchant_client_id(known)] == MerchantRecord.model_fields["produce_bytes_per_second"].default
    # The same rate on the merchant's own principal (merchant-connect), which the broker applies first.
    users = await produce_quotas(topics.kafka_bootstrap, USER)
    assert users[sender_principal(known)] == quotas[merchant_client_id(known)]
    assert None not in users  # the platform's own principals fall through to their client ids' quotas
    # And its share of the broker's request time, which bounds a flood of small requests.
    share = MerchantRecord.model_fields["request_percentage"].default
    for entity, name in ((CLIENT, merchant_client_id(known)), (USER, sender_principal(known))):
        assert (await produce_quotas(topics.kafka_bootstrap, entity, REQUEST_SHARE))[name] == share


@pytest.mark.usefixtures("low_unidentified_quota")
async def test_an_unidentified_flood_is_held_to_its_quota_while_a_merchant_is_answered_at_once(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    known = await fresh_merchant(topics)
    own = AIOKafkaProducer(
        bootstrap_servers=topics.kafka_bootstrap, client_id=merchant_client_id(known), acks="all", **kafka_security()
    )
    unidentified = AIOKafkaProducer(bootstrap_servers=topics.kafka_bootstrap, acks="all", **kafka_security())
    await own.start()
    await unidentified.start()
    try:
        merchants_client = MerchantClient(own)
        quiet = [await a_valid_order(merchants_client, tap, known) for _ in range(2)]
        quiet_paid, quiet_answered = min(paid for paid, _ in quiet), min(answered for _, answered in quiet)
        flooding = asyncio.create_task(flood(unidentified))
        await asyncio.sleep(2.0)  # the flood's first burst is in: from here the broker holds it to the quota
        during = [await a_valid_order(merchants_client, tap, known) for _ in range(3)]
        assert not flooding.done(), "the flood was not held back: it was all in before the merchant's orders"
        request_ids, flood_seconds = await flooding
    finally:
        await own.stop()
        await unidentified.stop()

    # The broker lets a first burst through (its rate is measured over a window of several seconds), then throttles.
    assert flood_seconds > FLOOD_BYTES / QUOTA / 2, f"the flood went in at {FLOOD_BYTES / flood_seconds:,.0f} B/s"
    for paid, answered in during:
        assert answered - quiet_answered < ALLOWED_DELAY_SECONDS, (
            f"answered after {answered:.2f} s ({quiet_answered:.2f})"
        )
        assert paid - quiet_paid < ALLOWED_DELAY_SECONDS, f"payment confirmed after {paid:.2f} s ({quiet_paid:.2f})"
    # Held back, not lost: every request the flood got in is still answered, and refused as it should be.
    for request_id in request_ids[:: len(request_ids) // 50]:
        [reply] = await tap.wait_for(replied(request_id), seconds=30)
        assert reply.payload["rtn_code"] == RtnCode.MERCHANT_UNKNOWN


async def test_a_merchant_flooding_through_its_own_connection_is_held_to_its_quota_while_another_is_answered_at_once(
    merchant: MerchantClient, tap: Tap, topics: Settings
) -> None:
    """Its quota is its record's, on its principal (a scram broker: it floods its own request topic as
    merchant-<id>, whatever client id it declares) or on its client id (a broker without authentication)."""
    bootstrap = topics.kafka_bootstrap
    known = await fresh_merchant(topics)
    flooder = await fresh_merchant(topics, produce_bytes_per_second=QUOTA)
    password = await connect(bootstrap, flooder)
    if password is None:
        flooding_as = {"client_id": merchant_client_id(flooder), **kafka_security()}
        topic, answers = INGEST_REQUESTS, tap
    else:
        flooding_as = {"client_id": "any-id-it-likes", **kafka_security(sender_principal(flooder), password)}
        topic, answers = sender_topic(INGEST_REQUESTS, flooder), Tap(bootstrap, [sender_topic(INGEST_REPLIES, flooder)])
        await answers.start()
    own = AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id=merchant_client_id(known), acks="all", **kafka_security()
    )
    flooding_producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", **flooding_as)
    await own.start()
    await flooding_producer.start()
    try:
        merchants_client = MerchantClient(own)
        quiet = [await a_valid_order(merchants_client, tap, known) for _ in range(2)]
        quiet_answered = min(answered for _, answered in quiet)
        flooding = asyncio.create_task(flood(flooding_producer, topic))
        await asyncio.sleep(2.0)
        during = [await a_valid_order(merchants_client, tap, known) for _ in range(3)]
        assert not flooding.done(), "the flood was not held back: it was all in before the other merchant's orders"
        request_ids, flood_seconds = await flooding
        # Every request the flood got in is answered (on the flooder's own reply topic when it has one): sampled.
        for request_id in request_ids[:: len(request_ids) // 20]:
            [reply] = await answers.wait_for(replied(request_id), seconds=60)
            assert reply.payload["rtn_code"] in (RtnCode.MERCHANT_UNKNOWN, RtnCode.PLATFORM_NOT_AUTHORISED)
    finally:
        await own.stop()
        await flooding_producer.stop()
        if answers is not tap:
            await answers.stop()

    assert flood_seconds > FLOOD_BYTES / QUOTA / 2, f"the flood went in at {FLOOD_BYTES / flood_seconds:,.0f} B/s"
    for _, answered in during:
        assert answered - quiet_answered < ALLOWED_DELAY_SECONDS, (
            f"answered after {answered:.2f} s ({quiet_answered:.2f})"
        )
