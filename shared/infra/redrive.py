"""Re-driving dead letters an operator asked for (`python -m shared.admin dead-letters redrive`), in the service.

The service applies them, not the admin tool and not a republish to Kafka: only this consumer needs them again
(a republished message would reach every group on the topic), and it uses the same parse, inbox and handlers as
the live stream. Success marks the letter resolved and announces DeadLetterResolved in the same transaction; a
failure leaves it open with the new error, for the next fix.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import asyncpg

from shared.contracts.events import Outgoing, Producer
from shared.contracts.rejections import DeadLetterResolved
from shared.ids import derived_id
from shared.infra import outbox
from shared.infra.consumer import ConsumerRunner, Suspect, apply_items
from shared.infra.deadletters import safe_text
from shared.infra.messages import Inbound, Parsed

log = logging.getLogger(__name__)

BATCH = 20


async def redrive_step(runner: ConsumerRunner) -> bool:
    """Re-drive the letters waiting for it; True while more may be waiting."""
    async with runner.pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT id, topic, partition, "offset", key, value, redrives FROM dead_letters
            WHERE redrive_requested_at IS NOT NULL AND resolved_at IS NULL ORDER BY id LIMIT $1
            """,
            BATCH,
        )
    for row in rows:
        record = Inbound(row["topic"], row["partition"], row["offset"], row["key"], row["value"], 0)
        try:
            route = runner.routes[record.topic]
            parsed = route.parse(record)
            await runner.transient_retried(lambda: _apply(runner, row["id"], row["redrives"], record, parsed))  # noqa: B023
        except Suspect as failed:
            await _still_failing(runner, row["id"], repr(failed.cause))
        except Exception as exc:  # no route for the topic any more, or it still does not parse
            await _still_failing(runner, row["id"], repr(exc))
    return len(rows) == BATCH


async def _apply(runner: ConsumerRunner, letter_id: int, redrives: int, record: Inbound, parsed: Parsed[Any]) -> None:
    now = runner.clock.now()
    async with runner.pool.acquire() as conn, conn.transaction():
        out = await apply_items(conn, runner.routes, [(record, parsed)])
        await conn.execute(
            """
            UPDATE dead_letters SET resolved_at = $2, resolution = 'redriven', redrives = redrives + 1,
                                    redrive_requested_at = NULL
            WHERE id = $1
            """,
            letter_id,
            now,
        )
        out.append(resolved_event(runner.name, record, "redriven", f"applied on re-drive {redrives + 1}", now))
        await outbox.append(conn, runner.schema, out)
    log.info("%s: dead letter %d re-driven", runner.name, letter_id)


async def _still_failing(runner: ConsumerRunner, letter_id: int, error: str) -> None:
    log.warning("%s: dead letter %d still fails: %s", runner.name, letter_id, error)
    async with runner.pool.acquire() as conn:
        await conn.execute(
            """
            UPDATE dead_letters SET redrive_requested_at = NULL, redrives = redrives + 1, error = $2
            WHERE id = $1
            """,
            letter_id,
            safe_text(f"re-drive failed: {error}"),
        )


def resolved_event(consumer: str, record: Inbound, resolution: str, note: str, now: datetime) -> Outgoing:
    event = DeadLetterResolved(
        consumer=consumer,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        resolution=resolution,
        note=safe_text(note, 500),
        resolved_at=now,
    )
    cause = f"{consumer}/{record.topic}/{record.partition}/{record.offset}"  # as its MessageRejected's
    return Producer(consumer).event(event, derived_id(cause, "resolved"), now, correlation_id=cause)


async def dismiss(conn: asyncpg.Connection, schema: str, letter_id: int, reason: str, now: datetime) -> bool:
    """An operator closes a letter that must not be applied (a forged event, a test message), saying why."""
    async with conn.transaction():
        row = await conn.fetchrow(
            """
            UPDATE dead_letters SET resolved_at = $2, resolution = 'dismissed', redrive_requested_at = NULL
            WHERE id = $1 AND resolved_at IS NULL
            RETURNING consumer, topic, partition, "offset"
            """,
            letter_id,
            now,
        )
        if row is None:
            return False
        record = Inbound(row["topic"], row["partition"], row["offset"], None, b"", 0)
        await outbox.append(conn, schema, [resolved_event(row["consumer"], record, "dismissed", reason, now)])
    return True
