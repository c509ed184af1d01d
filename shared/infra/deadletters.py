"""Storing unparseable or unhandleable messages with their raw bytes, and announcing each one."""

from __future__ import annotations

import hashlib
from datetime import datetime

import asyncpg

from shared.contracts.events import Outgoing, wrap
from shared.contracts.rejections import MessageRejected
from shared.ids import derived_id
from shared.infra.messages import Inbound

PREVIEW_BYTES = 200


def rejection_for(record: Inbound, consumer: str, error: str, now: datetime) -> Outgoing:
    event = MessageRejected(
        consumer=consumer,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        raw_size=len(record.value),
        raw_sha256=hashlib.sha256(record.value).hexdigest(),
        raw_preview=record.value[:PREVIEW_BYTES].decode("utf-8", errors="replace"),
        error=error[:2000],
        rejected_at=now,
    )
    cause = f"{consumer}/{record.topic}/{record.partition}/{record.offset}"
    return wrap(
        event,
        event_id=derived_id(cause, "rejected"),
        occurred_at=now,
        producer=consumer,
        correlation_id=cause,
        causation_id=None,
    )


async def store(conn: asyncpg.Connection, record: Inbound, error: str) -> bool:
    """Keep the raw message; False when this exact record was dead-lettered before (a redelivery)."""
    row = await conn.fetchval(
        """
        INSERT INTO dead_letters (topic, partition, "offset", key, value, error)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (topic, partition, "offset") DO NOTHING
        RETURNING id
        """,
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        error,
    )
    return row is not None
