"""Appending events to the outbox inside the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.contracts.events import Outgoing


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
        [e.envelope.event_id for e in events],
        [e.topic for e in events],
        [e.key for e in events],
        [e.envelope.to_bytes() for e in events],
        [e.envelope.event_type for e in events],
    )
    # Delivered at commit; wakes the relay at once instead of waiting for its next poll.
    await conn.execute("SELECT pg_notify($1, '')", notify_channel(schema))
