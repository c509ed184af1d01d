"""The `applied_offsets` table: how far the read model has applied each event partition (read-your-writes)."""

from __future__ import annotations

from collections.abc import Mapping

import asyncpg


async def record(conn: asyncpg.Connection, batch: Mapping[tuple[str, int], int]) -> None:
    """Advance each partition to the next offset after the batch's last record (never backwards)."""
    if batch:
        await conn.executemany(
            """
            INSERT INTO applied_offsets (topic, partition, next_offset) VALUES ($1, $2, $3)
            ON CONFLICT (topic, partition) DO UPDATE
                SET next_offset = greatest(applied_offsets.next_offset, EXCLUDED.next_offset)
            """,
            [(topic, partition, offset) for (topic, partition), offset in batch.items()],
        )


async def applied(conn: asyncpg.Connection) -> dict[str, int]:
    rows = await conn.fetch("SELECT topic, partition, next_offset FROM applied_offsets")
    return {f"{r['topic']}/{r['partition']}": r["next_offset"] for r in rows}
