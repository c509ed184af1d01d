"""Money facts some service could not apply (its dead letters): the ledger's own list of what it may lack."""

from __future__ import annotations

import asyncpg

from services.escrow_settlement.domain.invariants import Violation
from shared.contracts.rejections import DeadLetterResolved, MessageRejected


async def record(conn: asyncpg.Connection, event: MessageRejected) -> None:
    await conn.execute(
        """
        INSERT INTO unapplied_messages (consumer, source_topic, partition, "offset", stage, error, rejected_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING
        """,
        event.consumer,
        event.source_topic,
        event.source_partition,
        event.source_offset,
        event.stage,
        event.error,
        event.rejected_at,
    )


async def resolve(conn: asyncpg.Connection, event: DeadLetterResolved) -> None:
    await conn.execute(
        """
        UPDATE unapplied_messages SET resolved_at = $5, resolution = $6
        WHERE consumer = $1 AND source_topic = $2 AND partition = $3 AND "offset" = $4
        """,
        event.consumer,
        event.source_topic,
        event.source_partition,
        event.source_offset,
        event.resolved_at,
        f"{event.resolution}: {event.note}",
    )


async def open_violations(conn: asyncpg.Connection) -> list[Violation]:
    """Each open one as a violation of the full check, so a lost payment or ticket fact is never "0 violations"."""
    rows = await conn.fetch(
        'SELECT * FROM unapplied_messages WHERE resolved_at IS NULL ORDER BY rejected_at, consumer, "offset"'
    )
    return [
        Violation(
            "dead_letter_unapplied",
            f"{r['consumer']}:{r['source_topic']}/{r['partition']}/{r['offset']}",
            f"{r['stage']} failure since {r['rejected_at']:%Y-%m-%dT%H:%M:%SZ}, the ledger may lack its money "
            f"(python -m shared.admin dead-letters list --service ...): {r['error'][:200]}",
        )
        for r in rows
    ]
