"""The `waiting_queries` table: queries for an order or ticket the read model does not hold yet.

Each is answered once, by whichever transaction claims it first (FOR UPDATE SKIP LOCKED): the event batch that
brings its subject, or the sweep at its deadline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.ecticket.replies import Asker

CLAIM_LIMIT = 500


@dataclass(frozen=True)
class Waiting:
    asker: Asker
    subject: str
    data: dict[str, Any]
    deadline: datetime
    watermark: dict[str, int]  # the event offsets to see applied first ({}: none)


async def park(conn: asyncpg.Connection, waiting: Waiting) -> None:
    a = waiting.asker
    await conn.execute(
        """
        INSERT INTO waiting_queries (message_id, request_id, operation, merchant_id, platform_id, signer_id,
                                     subject, data, deadline, watermark, door)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10::jsonb, $11)
        ON CONFLICT DO NOTHING
        """,
        a.message_id,
        a.request_id,
        a.operation,
        a.merchant_id,
        a.platform_id,
        a.signer_id,
        waiting.subject,
        json.dumps(waiting.data),
        waiting.deadline,
        json.dumps(waiting.watermark),
        a.door,
    )


async def claim_for(conn: asyncpg.Connection, subjects: Sequence[str]) -> list[Waiting]:
    """Queries waiting for any of these subjects, or for a watermark (a batch of events may have reached it):
    left waiting, locked: the caller answers or keeps them."""
    return await _claim(conn, "subject = ANY($1::text[]) OR watermark <> '{}'::jsonb", list(subjects))


async def claim_due(conn: asyncpg.Connection, now: datetime) -> list[Waiting]:
    """Queries past their deadline, and those waiting for a watermark (the sweep checks it against what the
    consumer group committed)."""
    return await _claim(conn, "deadline <= $1 OR watermark <> '{}'::jsonb", now)


async def remove(conn: asyncpg.Connection, answered: Sequence[Waiting]) -> None:
    if answered:
        await conn.execute(
            "DELETE FROM waiting_queries WHERE message_id = ANY($1::uuid[])", [w.asker.message_id for w in answered]
        )


async def _claim(conn: asyncpg.Connection, where: str, arg: object) -> list[Waiting]:
    rows = await conn.fetch(
        f"""
        SELECT * FROM waiting_queries WHERE {where}
        ORDER BY deadline LIMIT {CLAIM_LIMIT} FOR UPDATE SKIP LOCKED
        """,  # `where` is one of the two constants above
        arg,
    )
    return [
        Waiting(
            Asker(
                r["message_id"],
                r["request_id"],
                r["operation"],
                r["merchant_id"],
                r["platform_id"],
                r["signer_id"],
                r["door"],
            ),
            r["subject"],
            json.loads(r["data"]),
            r["deadline"],
            json.loads(r["watermark"]),
        )
        for r in rows
    ]
