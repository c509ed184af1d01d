"""The relay reads the outbox from a floor (shared/infra/outbox_floor.py) on a real PostgreSQL and Kafka: the floor
rises past what is published, never past a row whose transaction is still open, and such a row, committed after
later rows went out, is still published."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from typing import Any

import asyncpg

from shared import chain as links
from shared.infra import chain, outbox
from shared.infra.outbox_floor import ADVANCE_SECONDS, OutboxFloor
from shared.infra.outbox_read import READ, OutboxReader
from shared.infra.relay import OutboxRelay
from shared.settings import Settings
from shared.topics import REJECTIONS
from tests.integration.test_audit_chain import events, read_all


async def unpublished_from(conn: asyncpg.Connection, reader: OutboxReader) -> list[int]:
    """What the relay reads now, marked published as the relay marks what Kafka acknowledged."""
    rows = await reader.read(conn, 10_000)
    await conn.execute("UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])", [r["seq"] for r in rows])
    return [r["seq"] for r in rows]


async def test_the_floor_rises_past_what_is_published_is_stored_for_the_next_term_and_a_later_row_is_still_read(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, schema = messaging_schema
    async with pool.acquire() as conn:
        await outbox.append(conn, schema, events(3))
    async with pool.acquire() as relay_conn:
        assert (await OutboxFloor.stored(relay_conn)).seq == 0  # nothing moved it yet: from the first row
        reader = OutboxReader(OutboxFloor(every_seconds=0))
        assert await unpublished_from(relay_conn, reader) == [1, 2, 3]
        for _ in range(2):  # a probe, then its confirmation
            assert await unpublished_from(relay_conn, reader) == []
        assert reader.floor.seq == 4
        assert (await OutboxFloor.stored(relay_conn)).seq == 4
        async with pool.acquire() as conn:
            await outbox.append_many(conn, schema, events(2))
        assert tuple(await pool.fetchrow("SELECT rows, first_seq FROM outbox_backlog()")) == (2, 4)
        next_term = OutboxReader(await OutboxFloor.stored(relay_conn, every_seconds=0))
        assert await unpublished_from(relay_conn, next_term) == [4, 5]


async def test_the_floor_stays_below_a_row_whose_transaction_is_open_and_the_row_is_read_once_committed(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, schema = messaging_schema
    async with pool.acquire() as slow, pool.acquire() as relay_conn:
        transaction = slow.transaction()
        await transaction.start()
        await outbox.append(slow, schema, events(1))  # takes seq 1, committed only later
        await outbox.append(relay_conn, schema, events(2))  # seqs 2 and 3, committed now (the pool holds two)
        reader = OutboxReader(OutboxFloor(every_seconds=0))
        assert await unpublished_from(relay_conn, reader) == [2, 3]
        for _ in range(5):
            assert await unpublished_from(relay_conn, reader) == []
            assert reader.floor.seq <= 1
        await transaction.commit()
        assert await unpublished_from(relay_conn, reader) == [1]
        for _ in range(2):
            assert await unpublished_from(relay_conn, reader) == []
        assert reader.floor.seq == 4


async def test_the_floor_stays_below_a_row_held_by_the_newest_transaction_of_the_server(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    """A snapshot lists only the running transactions below its xmax, the newest *ended* one plus 1: the newest
    running one is not in it. The floor once trusted that list and rose past this row (1 run in 4 of the relay
    test below; every time here)."""
    pool, schema = messaging_schema
    async with pool.acquire() as slow, pool.acquire() as relay_conn:
        transaction = slow.transaction()
        await transaction.start()
        await outbox.append(slow, schema, events(1))  # seq 1, by the newest transaction: nothing ends after it
        reader = OutboxReader(OutboxFloor(every_seconds=0))
        for _ in range(3):
            assert await unpublished_from(relay_conn, reader) == []
            assert reader.floor.seq <= 1
        await transaction.commit()
        assert await unpublished_from(relay_conn, reader) == [1]


async def test_a_relay_term_whose_floor_is_below_the_stored_one_never_lowers_it(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, schema = messaging_schema
    async with pool.acquire() as conn:
        await outbox.append(conn, schema, events(3))
        await conn.execute("UPDATE outbox_floor SET seq = 10")  # as a later term, or another instance, left it
    async with pool.acquire() as relay_conn:
        reader = OutboxReader(OutboxFloor(every_seconds=0))
        for _ in range(3):
            await unpublished_from(relay_conn, reader)
        assert reader.floor.seq == 4  # this term's own floor moved ...
        assert (await OutboxFloor.stored(relay_conn)).seq == 10  # ... and did not write itself over a higher one


async def test_marking_rows_published_is_a_hot_update_that_writes_no_index_entry(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    """No index names published_at and pages keep room for the marked version: PostgreSQL updates the row in
    place (HOT) instead of adding an entry to the primary key and event_id's index for every row marked."""
    pool, schema = messaging_schema
    async with pool.acquire() as conn:
        await outbox.append_many(conn, schema, events(200))
        rows = await conn.fetch("SELECT seq, topic, key, value, event_type FROM outbox ORDER BY seq")
        batch = await chain.link(conn, await chain.load_tail(conn, schema), rows)
        async with conn.transaction():
            await chain.mark_published(conn, batch)
            updated = await conn.fetchval("SELECT pg_stat_get_xact_tuples_updated('outbox'::regclass)")
            hot = await conn.fetchval("SELECT pg_stat_get_xact_tuples_hot_updated('outbox'::regclass)")
    assert (updated, hot) == (200, 200)
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL OR chain_link IS NULL") == 0


async def test_on_an_outbox_without_statistics_the_relay_reads_along_the_primary_key(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    """Filled in a burst, before any ANALYZE: left to itself the planner took a parallel bitmap scan and a sort for a
    read of the last rows (12 ms against 0.06 ms); the relay's settings leave it only the primary key."""
    pool, _ = messaging_schema
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO outbox (event_id, topic, key, value, event_type) SELECT gen_random_uuid(), 't', 'k' || g,"
            " convert_to(repeat('x', 600), 'UTF8'), 'E' FROM generate_series(1, 100000) AS g"
        )
        async with conn.transaction():
            await conn.execute(outbox.PRIMARY_KEY_PLANS)
            plan = "\n".join(r[0] for r in await conn.fetch(f"EXPLAIN {READ}", 2000, 99_990, [50, 70_000]))
    assert plan.startswith("Limit") and plan.count("Index Scan using outbox_pkey") == 2, plan
    assert "Bitmap" not in plan and "Gather" not in plan and "Seq Scan" not in plan, plan


async def test_a_read_passes_neither_over_what_was_published_nor_over_a_row_still_being_written(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    """A transaction open on the server holds the floor; reads from the floor walked every row published since. The
    reader goes on from its last read, and finds the row whose transaction was open when that read passed it."""
    pool, schema = messaging_schema
    async with pool.acquire() as slow, pool.acquire() as relay_conn:
        transaction = slow.transaction()
        await transaction.start()
        await outbox.append(slow, schema, events(1))  # seq 1, committed only later: the floor stays at or below it
        await outbox.append_many(relay_conn, schema, events(1000))  # committed now (the pool holds two)
        reader = OutboxReader(OutboxFloor(every_seconds=0))
        assert await unpublished_from(relay_conn, reader) == list(range(2, 1002))
        await outbox.append_many(relay_conn, schema, events(3))
        cursor = reader.cursor
        async with relay_conn.transaction():  # planned as on the relay's connection
            await relay_conn.execute(outbox.PRIMARY_KEY_PLANS)
            plan = await relay_conn.fetchval(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {READ}", 10_000, cursor.next_seq, sorted(cursor.unseen)
            )
        assert reader.floor.seq <= 1 and cursor.unseen - {0} == {1}  # (0: where the floor starts, never a seq)
        assert sum(removed_by_filter(json.loads(plan)[0]["Plan"])) == 0  # not one published row looked at
        assert await unpublished_from(relay_conn, reader) == [1002, 1003, 1004]
        await transaction.commit()
        assert await unpublished_from(relay_conn, reader) == [1]
        for _ in range(2):  # a probe, then its confirmation
            assert await unpublished_from(relay_conn, reader) == []
        assert (reader.floor.seq, reader.cursor.next_seq, reader.cursor.unseen) == (1005, 1005, set())


def removed_by_filter(node: dict[str, Any]) -> Iterator[int]:
    yield node.get("Rows Removed by Filter", 0)
    for child in node.get("Plans", []):
        yield from removed_by_filter(child)


async def test_the_outbox_sequence_hands_out_one_seq_at_a_time_after_the_transaction_has_its_id(
    messaging_schema: tuple[asyncpg.Pool, str],
) -> None:
    pool, _ = messaging_schema
    assert await pool.fetchval("SELECT seqcache FROM pg_sequence WHERE seqrelid = 'outbox_seq_seq'::regclass") == 1
    trigger = await pool.fetchrow(
        "SELECT tgtype, p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
        " WHERE t.tgrelid = 'outbox'::regclass AND t.tgname = 'outbox_id_before_seq'"
    )
    # tgtype 6 = BEFORE (2) | INSERT (4), and no ROW bit (1): once per statement, before any row takes its seq.
    assert trigger is not None and trigger["tgtype"] == 6 and "pg_current_xact_id()" in trigger["prosrc"]


async def test_with_the_floor_on_the_relay_publishes_a_row_committed_after_later_rows_went_out(
    topics: Settings, messaging_schema: tuple[asyncpg.Pool, str]
) -> None:
    infra = topics
    pool, schema = messaging_schema
    late, early = events(1), events(3)
    relay = OutboxRelay(schema, infra.database_url, infra.kafka_bootstrap, floor_seconds=ADVANCE_SECONDS)
    running = asyncio.create_task(relay.run())
    try:
        async with pool.acquire() as slow:
            transaction = slow.transaction()
            await transaction.start()
            await outbox.append(slow, schema, late)
            async with pool.acquire() as conn:
                await outbox.append(conn, schema, early)
            await until(lambda: relay.published == 3)
            await asyncio.sleep(0.5)  # several floor probes while the first row's transaction stays open
            await transaction.commit()
        await until(lambda: relay.published == 4)
    finally:
        relay.stopping.set()
        await asyncio.wait_for(running, 20)
    published = [
        (value, links.link_from_headers(headers))
        for value, headers in await read_all(infra.kafka_bootstrap, REJECTIONS)
        if ("chain", schema.encode()) in headers
    ]
    assert [value for value, _ in published] == [e.value for e in early + late]  # partition key "t": one partition
    assert [link.seq for _, link in published if link is not None] == [1, 2, 3, 4]


async def until(condition: Callable[[], bool], seconds: float = 20.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")
