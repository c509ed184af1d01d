"""Storing messages that could not be parsed or handled, with their raw bytes, and announcing each one.

Nothing here may fail because of what the message contains: the bytes and key are stored as bytea, the error
text is made safe for a text column first, and the announcement's key is the (trusted) source topic.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import asyncpg

from shared.contracts.events import Outgoing, Producer
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
    return Producer(consumer).event(event, derived_id(cause, "rejected"), now, correlation_id=cause)


async def store(conn: asyncpg.Connection, letters: Sequence[DeadLetter], consumer: str) -> list[DeadLetter]:
    """Keep the raw messages (one statement for all of them); the ones not dead-lettered before (a redelivery)."""
    if not letters:
        return []
    rows = await conn.fetch(
        """
        INSERT INTO dead_letters (topic, partition, "offset", key, value, error, stage, touches_money, consumer)
        SELECT t, p, o, k, v, e, s, m, $9
        FROM unnest($1::text[], $2::int[], $3::bigint[], $4::bytea[], $5::bytea[], $6::text[], $7::text[],
                    $8::bool[]) AS u(t, p, o, k, v, e, s, m)
        ON CONFLICT (topic, partition, "offset") DO NOTHING
        RETURNING topic, partition, "offset"
        """,
        [x.record.topic for x in letters],
        [x.record.partition for x in letters],
        [x.record.offset for x in letters],
        [x.record.key for x in letters],
        [x.record.value for x in letters],
        [safe_text(x.error) for x in letters],
        [x.stage.value for x in letters],
        [x.touches_money for x in letters],
        consumer,
    )
    new = {(r["topic"], r["partition"], r["offset"]) for r in rows}
    return [x for x in letters if (x.record.topic, x.record.partition, x.record.offset) in new]
