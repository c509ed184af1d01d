"""All of the gateway's SQL: answered requests and how far the reply tail has recorded the reply topic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg


@dataclass(frozen=True)
class Answered:
    request_id: str
    operation: str
    merchant_id: str
    response: str  # the response envelope's JSON, as relayed
    replied_at: datetime


async def replies_of(pool: asyncpg.Pool, request_ids: Sequence[str]) -> dict[str, str]:
    """The recorded replies among `request_ids` (a request never answered is simply absent)."""
    rows = await pool.fetch("SELECT request_id, response FROM replies WHERE request_id = ANY($1::text[])", request_ids)
    return {row["request_id"]: row["response"] for row in rows}


async def positions(pool: asyncpg.Pool) -> dict[int, int]:
    rows = await pool.fetch('SELECT "partition", next_offset FROM reply_positions')
    return {int(r["partition"]): int(r["next_offset"]) for r in rows}


async def record(pool: asyncpg.Pool, answered: Sequence[Answered], read_up_to: dict[int, int]) -> None:
    """The replies of one batch and the positions after it, in one transaction: a position never runs ahead of
    the replies before it. A reply recorded already (another instance, a re-read) stays as it was."""
    async with pool.acquire() as conn, conn.transaction():
        if answered:
            await conn.execute(
                "INSERT INTO replies (request_id, operation, merchant_id, response, replied_at)"
                " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[])"
                " ON CONFLICT (request_id) DO NOTHING",
                [a.request_id for a in answered],
                [a.operation for a in answered],
                [a.merchant_id for a in answered],
                [a.response for a in answered],
                [a.replied_at for a in answered],
            )
        if read_up_to:
            await conn.execute(
                'INSERT INTO reply_positions ("partition", next_offset)'
                " SELECT * FROM unnest($1::int[], $2::bigint[])"
                ' ON CONFLICT ("partition") DO UPDATE'
                " SET next_offset = GREATEST(reply_positions.next_offset, EXCLUDED.next_offset)",
                list(read_up_to),
                list(read_up_to.values()),
            )


async def prune(pool: asyncpg.Pool, recorded_before: datetime, batch: int) -> bool:
    """Delete up to `batch` replies recorded before the cutoff; True when a full batch went (more may be due)."""
    status = await pool.execute(
        "DELETE FROM replies WHERE ctid = ANY(ARRAY(SELECT ctid FROM replies WHERE recorded_at < $1 LIMIT $2))",
        recorded_before,
        batch,
    )
    return int(status.rsplit(" ", 1)[-1]) == batch


async def database_answers(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval("SELECT 1", timeout=2))
