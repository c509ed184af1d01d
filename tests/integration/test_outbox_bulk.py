"""The outbox on a real PostgreSQL: COPY for big batches keeps one copy per event id, and the relay's backlog."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from shared.contracts.events import Outgoing, wrap
from shared.contracts.rejections import MessageRejected
from shared.infra import outbox

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def event(number: int) -> Outgoing:
    rejected = MessageRejected(consumer="t", source_topic="t", source_partition=0, source_offset=number, raw_size=0,
                               raw_sha256="", raw_preview="", error=f"e{number}", rejected_at=NOW)  # fmt: skip
    return wrap(rejected, event_id=uuid.UUID(int=number + 1), occurred_at=NOW, producer="t", correlation_id="c",
                causation_id=None)  # fmt: skip


async def stored(pool: asyncpg.Pool) -> list[tuple[uuid.UUID, bytes]]:
    rows = await pool.fetch("SELECT event_id, value FROM outbox ORDER BY seq")
    return [(r["event_id"], r["value"]) for r in rows]


async def test_append_many_stores_exactly_what_append_stores(messaging_schema: tuple[asyncpg.Pool, str]) -> None:
    db, schema = messaging_schema
    events = [event(n) for n in range(300)]
    async with db.acquire() as conn, conn.transaction():
        await outbox.append_many(conn, schema, events)
    assert await stored(db) == [(e.event_id, e.value) for e in events]
    row = await db.fetchrow("SELECT topic, key, event_type, published_at FROM outbox ORDER BY seq LIMIT 1")
    assert tuple(row) == (events[0].topic, events[0].key, "MessageRejected", None)


async def test_events_already_in_the_outbox_are_kept_once_and_the_rest_is_added(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    db, schema = messaging_schema
    async with db.acquire() as conn, conn.transaction():
        await outbox.append(conn, schema, [event(5), event(7)])
    batch = [event(n) for n in range(10)] + [event(3)]  # two already stored, and a repeat inside the batch
    async with db.acquire() as conn, conn.transaction():
        await outbox.append_many(conn, schema, batch)
        await conn.execute("SELECT 1")  # the failed COPY left the transaction usable
    ids = [event_id for event_id, _ in await stored(db)]
    assert sorted(ids) == sorted(event(n).event_id for n in range(10)) and len(ids) == 10


async def test_the_backlog_is_what_the_relay_has_left_and_the_floor_moves_with_it(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    db, schema = messaging_schema
    async with db.acquire() as conn:
        assert await outbox.backlog(conn, 0) == (0, 0)
        async with conn.transaction():
            await outbox.append_many(conn, schema, [event(n) for n in range(10)])
        first = await conn.fetchval("SELECT min(seq) FROM outbox")
        assert await outbox.backlog(conn, 0) == (10, first)
        await conn.execute("UPDATE outbox SET published_at = now() WHERE seq < $1", first + 4)
        waiting, floor = await outbox.backlog(conn, first)
        assert (waiting, floor) == (6, first + 4)
        await conn.execute("UPDATE outbox SET published_at = now()")
        assert await outbox.backlog(conn, floor) == (0, first + 10)
