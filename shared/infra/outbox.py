"""Appending events to the outbox inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg

if TYPE_CHECKING:  # the relay child imports this module and no event model (docs/decisions.md)
    from shared.contracts.events import Outgoing

COLUMNS = ("event_id", "topic", "key", "value", "event_type")


def notify_channel(schema: str) -> str:
    return f"outbox_{schema}"


async def append(conn: asyncpg.Connection, schema: str, events: Sequence[Outgoing]) -> None:
    if not events:
        return
    await conn.execute(
        """
        INSERT INTO outbox (event_id, topic, key, value, event_type)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::text[])
        ON CONFLICT (event_id) DO NOTHING
        """,
        [e.event_id for e in events],
        [e.topic for e in events],
        [e.key for e in events],
        [e.value for e in events],
        [e.event_type for e in events],
    )
    await _wake_relay(conn, schema)


async def append_many(conn: asyncpg.Connection, schema: str, events: Sequence[Outgoing]) -> None:
    """`append` for thousands of events at once (an expiry batch), through binary COPY.

    COPY costs Postgres about half as much per row as INSERT ... ON CONFLICT, and asyncpg encodes its rows without
    the per-element checks it runs on array parameters. COPY has no ON CONFLICT, though: if an event is already
    in the outbox (ids are deterministic, so a decision taken twice repeats them), the COPY fails as a whole
    inside a savepoint and the batch goes through `append`, which keeps the copy already there.
    """
    if not events:
        return
    records = [(e.event_id, e.topic, e.key, e.value, e.event_type) for e in events]
    try:
        async with conn.transaction():  # a savepoint: a failed COPY leaves the caller's transaction usable
            await conn.copy_records_to_table("outbox", schema_name=schema, records=records, columns=COLUMNS)
    except asyncpg.UniqueViolationError:
        await append(conn, schema, events)
        return
    await _wake_relay(conn, schema)


# Plans that walk the outbox's primary key (PRIMARY_KEY_PLANS sets them for the rest of a transaction). No index
# names published_at, and on an outbox without statistics yet (a new one, or one filled in a burst before
# autovacuum's ANALYZE) the planner took a parallel bitmap scan and a sort for a short range of it: 12 ms instead of
# 0.06 (docs/decisions.md, "Marking the outbox published in place"). JIT off too: with sequential scans off, a plan
# that must still take one (a one-row table) costs more than JIT's threshold, and compiling took 8-40 ms a statement.
PRIMARY_KEY_SETTINGS = {
    "enable_seqscan": "off",
    "enable_bitmapscan": "off",
    "max_parallel_workers_per_gather": "0",
    "jit": "off",
}
PRIMARY_KEY_PLANS = "SELECT " + ", ".join(f"set_config('{k}', '{v}', true)" for k, v in PRIMARY_KEY_SETTINGS.items())


async def backlog(conn: asyncpg.Connection, floor: int) -> tuple[int, int]:
    """About how many rows the relay has not published yet, and the floor to pass next time.

    The span from the oldest unpublished row to the newest row. The oldest is looked for along the primary key
    from `floor` (what the previous call returned, 0 at first) or the relay's stored floor, whichever is higher:
    rows below either were published, so the walk covers only what was published since.
    """
    # The stored floor in a statement of its own: as a sub-select its value is unknown to the planner, which then
    # scans the whole table (170 ms on 500,000 rows) instead of a short range of the primary key.
    floor = max(floor, await conn.fetchval("SELECT seq FROM outbox_floor"))
    async with conn.transaction():
        await conn.execute(PRIMARY_KEY_PLANS)
        oldest, newest = await conn.fetchrow(
            """
            SELECT (SELECT seq FROM outbox WHERE published_at IS NULL AND seq >= $1 ORDER BY seq LIMIT 1),
                   (SELECT max(seq) FROM outbox)
            """,
            floor,
        )
    if oldest is None:
        return 0, floor if newest is None else newest + 1
    return newest - oldest + 1, oldest


async def _wake_relay(conn: asyncpg.Connection, schema: str) -> None:
    # Delivered at commit; wakes the relay at once instead of waiting for its next poll.
    await conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))
