"""Storing messages that could not be parsed or handled, with their raw bytes, and announcing each one.

Nothing here may fail because of what the message contains: the bytes and key are stored as bytea, the error
text is made safe for a text column first, and the announcement's key is the (trusted) source topic.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from shared.contracts.events import Outgoing, wrap
from shared.contracts.rejections import MessageRejected
from shared.ids import derived_id
from shared.infra.messages import Inbound
from shared.topics import is_ingestion

PREVIEW_BYTES = 200
MAX_ERROR_CHARS = 2000


class Stage(StrEnum):
    PARSE = "parse"  # not a message this consumer understands
    HANDLE = "handle"  # understood, but applying it failed the same way twice on a healthy database
    CRASH = "crash"  # the process died while it was being handled alone


@dataclass(frozen=True)
class DeadLetter:
    record: Inbound
    stage: Stage
    error: str

    @property
    def touches_money(self) -> bool:
        """A fact the service never applied. A stranger's unreadable bytes on an ingestion topic are not one:
        they were refused at the edge, like a request with a bad checksum."""
        return self.stage is not Stage.PARSE or not is_ingestion(self.record.topic)


def safe_text(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """Text Postgres accepts whatever the message held: no NUL, no lone surrogates, bounded."""
    cleaned = text[:limit].replace("\x00", "\\x00")
    return cleaned.encode("utf-8", errors="backslashreplace").decode("utf-8")


def rejection_for(letter: DeadLetter, consumer: str, now: datetime) -> Outgoing:
    record = letter.record
    event = MessageRejected(
        consumer=consumer,
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        raw_size=len(record.value),
        raw_sha256=hashlib.sha256(record.value).hexdigest(),
        raw_preview=safe_text(record.value[:PREVIEW_BYTES].decode("utf-8", errors="replace")),
        error=safe_text(letter.error),
        rejected_at=now,
        stage=letter.stage.value,
        touches_money=letter.touches_money,
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


async def store(conn: asyncpg.Connection, letter: DeadLetter, consumer: str) -> bool:
    """Keep the raw message; False when this exact record was dead-lettered before (a redelivery)."""
    record = letter.record
    row = await conn.fetchval(
        """
        INSERT INTO dead_letters (topic, partition, "offset", key, value, error, stage, touches_money, consumer)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT (topic, partition, "offset") DO NOTHING
        RETURNING id
        """,
        record.topic,
        record.partition,
        record.offset,
        record.key,
        record.value,
        safe_text(letter.error),
        letter.stage.value,
        letter.touches_money,
        consumer,
    )
    return row is not None
