"""All of the ops app's SQL: its dead letters, and the outbox backlog of every service it watches."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from shared.infra import deadletters, outbox
from shared.infra.deadletters import DeadLetter

SCHEMA = "ops"


async def dead_letter(pool: asyncpg.Pool, letters: Sequence[DeadLetter], now: datetime) -> None:
    """Keep the raw records and announce each once, in one transaction (as every platform consumer does)."""
    async with pool.acquire() as conn, conn.transaction():
        stored = await deadletters.store(conn, letters, SCHEMA)
        await outbox.append(conn, SCHEMA, [deadletters.rejection_for(x, SCHEMA, now) for x in stored])


async def outbox_backlogs(pool: asyncpg.Pool, schemas: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Per schema: unpublished outbox rows and the age of the oldest, in seconds (0 when none).

    The one place the ops app reads other schemas, read-only and by operators' design: the outbox backlog is
    exactly what each service's relay has not published yet. A schema that does not exist (a service never
    started here) is left out.
    """
    result: dict[str, dict[str, Any]] = {}
    async with pool.acquire() as conn:
        present = {
            r["table_schema"]
            for r in await conn.fetch(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox' AND table_schema = ANY($1)",
                list(schemas),
            )
        }
        for schema in schemas:
            if schema not in present:
                continue
            row = await conn.fetchrow(
                f'SELECT rows AS n, extract(epoch FROM now() - oldest) AS age FROM "{schema}".outbox_backlog()'
            )
            result[schema] = {"backlog": int(row["n"]), "oldest_age_seconds": float(row["age"] or 0.0)}
    return result
