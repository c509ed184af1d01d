"""What a consumer route sees: the raw record, and what parsing made of it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing

# Larger messages are refused before parsing: no merchant request or event is anywhere near this big.
MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True)
class Inbound:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True)
class Parsed:
    message_id: uuid.UUID  # inbox key: a second message with the same id is skipped
    body: Any


class Unparseable(Exception):
    """The message cannot be understood at all: it goes to the dead letters with its raw bytes."""


Handler = Callable[[asyncpg.Connection, "Parsed", Inbound], Awaitable[Sequence[Outgoing]]]
BatchHandler = Callable[[asyncpg.Connection, Sequence[tuple[Inbound, "Parsed"]]], Awaitable[Sequence[Outgoing]]]


@dataclass(frozen=True)
class Route:
    parse: Callable[[Inbound], Parsed]
    handle: Handler
    # Optional: all fresh messages of one consumer batch for this handler in one call (arrival order), for a
    # service that loads and saves its state once per batch. `handle` stays the per-message path.
    handle_batch: BatchHandler | None = None
    # Optional: events for a message whose handler failed and which is dead-lettered (e.g. an error reply, so
    # the sender is not left without an answer).
    on_poison: Callable[[Parsed, str, datetime], Sequence[Outgoing]] | None = None
    # False on a shared ingestion topic for every consumer but one: a stranger's unreadable bytes are kept and
    # announced once for the platform (by the keeper), not once per consumer group that reads the topic.
    keeps_unparseable: bool = True


def check_size(record: Inbound) -> None:
    if len(record.value) > MAX_MESSAGE_BYTES:
        raise Unparseable(f"message of {len(record.value)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit")


# A JSON escape of NUL that is not itself an escaped backslash followed by "u0000" (an odd run of backslashes).
# pydantic's JSON parser already refuses lone surrogates and nesting beyond its recursion limit, but reads
# `\u0000` into a string that PostgreSQL cannot store (text or jsonb) and that would fail the handler instead.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def parse_event(record: Inbound) -> Parsed:
    """Parse a domain event envelope; dedup by its event_id."""
    check_size(record)
    # A substring test first (a few hundred ns per event): the regex only runs when an escape might be there.
    if b"\\u0000" in record.value and _NUL_ESCAPE.search(record.value):
        raise Unparseable("not an event envelope: a string contains NUL")
    try:
        envelope = EventEnvelope.from_bytes(record.value)
    except ValueError as exc:
        raise Unparseable(f"not an event envelope: {exc}") from exc
    return Parsed(message_id=envelope.event_id, body=envelope)
