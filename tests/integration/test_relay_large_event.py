"""An event larger than the relay's batch buffer (128 KiB, shared/infra/relay.py) is published whole: the producer
starts a batch of its own for it."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from shared.contracts.events import Outgoing
from shared.infra import outbox
from shared.infra.relay import OutboxRelay
from shared.settings import Settings
from shared.topics import INGEST_REPLIES
from tests.integration.test_audit_chain import read_all


async def test_an_event_larger_than_a_relay_batch_is_published_whole(
    topics: Settings, messaging_schema: tuple[asyncpg.Pool, str]
) -> None:
    infra = topics
    pool, schema = messaging_schema
    large = b'{"reply":"' + schema.encode() + b'","padding":"' + b"x" * (400 * 1024) + b'"}'
    small = b'{"reply":"' + schema.encode() + b'","after":true}'
    async with pool.acquire() as conn:
        await outbox.append(
            conn,
            schema,
            [
                Outgoing.serialised(INGEST_REPLIES, "M1", uuid.uuid4(), "RequestReplied", value)
                for value in (large, small)
            ],
        )
    relay = OutboxRelay(schema, infra.database_url, infra.kafka_bootstrap)
    running = asyncio.create_task(relay.run())
    try:
        for _ in range(400):
            if relay.published == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        relay.stopping.set()
        await asyncio.wait_for(running, 20)
    ours = [
        value for value, _ in await read_all(infra.kafka_bootstrap, INGEST_REPLIES) if schema.encode() in value[:60]
    ]
    assert ours == [large, small]
