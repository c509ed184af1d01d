"""Waiting for the platform to be quiet before judging it: every service's consumer group has committed the end of
what it reads, and no service has an event left in its outbox (settlement records the ledger behind the tickets'
events, and its relay publishes the entries after that: a replay before then misses entries it has not written).

When the wait runs to its limit, what was still busy at the last look says where to search: a group behind on a
partition (a consumer stuck, or not running), or a schema's outbox with rows nobody publishes (a relay stuck)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shared.access import group_of
from shared.infra.kafka_auth import kafka_security
from shared.platform import PLATFORM_SERVICES

OUTBOX_SCHEMAS = "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'"


@dataclass(frozen=True)
class Quiet:
    seconds: float  # until quiet, or -1 when not within the limit
    # What was busy at the last look: "group: topic[partition]" -> records behind, "outbox: schema" -> rows unsent.
    busy: dict[str, int] = field(default_factory=dict)


async def quiet(bootstrap: str, database_url: str, seconds: float) -> Quiet:
    """Quiet when nothing is busy twice in a row, a second apart; after `seconds`, not quiet, with what was busy."""
    began = time.monotonic()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_security())
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="chaos-quiet", **kafka_security())
    conn = await asyncpg.connect(database_url)
    await consumer.start()
    await admin.start()
    busy: dict[str, int] = {}
    try:
        schemas = [r[0] for r in await conn.fetch(OUTBOX_SCHEMAS)]
        calm = 0
        while time.monotonic() - began < seconds:
            busy = await _lag(admin, consumer) | await _unpublished(conn, schemas)
            calm = calm + 1 if not busy else 0
            if calm == 2:
                return Quiet(time.monotonic() - began)
            await asyncio.sleep(1)
    finally:
        await conn.close()
        await consumer.stop()
        await admin.close()
    return Quiet(-1.0, busy)


async def _lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> dict[str, int]:
    behind: dict[str, int] = {}
    for group in (group_of(service) for service in PLATFORM_SERVICES):  # "payment-confirmation" is not its schema
        committed = await admin.list_consumer_group_offsets(group)
        offsets = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
        if offsets:
            ends = await consumer.end_offsets(list(offsets))
            for tp, offset in offsets.items():
                if int(ends[tp]) > int(offset):
                    behind[f"{group}: {tp.topic}[{tp.partition}]"] = int(ends[tp]) - int(offset)
    return behind


async def _unpublished(conn: asyncpg.Connection, schemas: list[str]) -> dict[str, int]:
    waiting: dict[str, int] = {}
    for schema in schemas:
        rows = int(await conn.fetchval(f'SELECT rows FROM "{schema}".outbox_backlog()'))
        if rows:
            waiting[f"outbox: {schema}"] = rows
    return waiting
