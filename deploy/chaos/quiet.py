"""Waiting for the platform to be quiet before judging it: every service's consumer group has committed the end of
what it reads, and no service has an event left in its outbox (settlement records the ledger behind the tickets'
events, and its relay publishes the entries after that: a replay before then misses entries it has not written)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shared.infra.kafka_auth import kafka_security
from shared.platform import PLATFORM_SERVICES

OUTBOX_SCHEMAS = "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'"


async def quiet(bootstrap: str, database_url: str, seconds: float) -> float:
    """The seconds until the platform was quiet (twice in a row, a second apart), or -1 after `seconds`."""
    began = time.monotonic()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_security())
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-quiet", **kafka_security())
    conn = await asyncpg.connect(database_url)
    await consumer.start()
    await admin.start()
    try:
        schemas = [r[0] for r in await conn.fetch(OUTBOX_SCHEMAS)]
        calm = 0
        while time.monotonic() - began < seconds:
            busy = await _lag(admin, consumer) + await _unpublished(conn, schemas)
            calm = calm + 1 if busy == 0 else 0
            if calm == 2:
                return time.monotonic() - began
            await asyncio.sleep(1)
    finally:
        await conn.close()
        await consumer.stop()
        await admin.close()
    return -1.0


async def _lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> int:
    lag = 0
    for group in PLATFORM_SERVICES:
        committed = await admin.list_consumer_group_offsets(group)
        offsets = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        if offsets:
            ends = await consumer.end_offsets(list(offsets))
            lag += sum(max(0, int(ends[tp]) - int(offset)) for tp, offset in offsets.items())
    return lag


async def _unpublished(conn: asyncpg.Connection, schemas: list[str]) -> int:
    waiting = 0
    for schema in schemas:
        waiting += int(await conn.fetchval(f'SELECT count(*) FROM "{schema}".outbox WHERE published_at IS NULL'))
    return waiting
