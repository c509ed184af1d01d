"""What a consumer route sees: the raw record, and what parsing made of it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg

from shared.contracts.envelope import EventEnvelope
from shared.contracts.envelope_read import read_envelope
from shared.contracts.events import Outgoing
from shared.topics import base_of

# Larger messages are refused before parsing: no merchant request or event is anywhere near this big.
MAX_MESSAGE_BYTES = 256 * 1024
# Domain events, which only the platform's own principals write: a TicketsIssued of the largest order (1,000
# tickets, each with its write-off code's keyed hash and ciphertext) is about 350 KB.
MAX_EVENT_BYTES = 512 * 1024

T = TypeVar("T")
Body = TypeVar("Body", covariant=True)


@dataclass(frozen=True)
class Inbound:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int
    # The record's headers as Kafka gave them (the relay's seal and chain link among them); () where the record
    # was rebuilt from storage (a re-driven dead letter) or made up (tests, the gateway's own checks).
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Parsed(Generic[Body]):
    message_id: uuid.UUID  # inbox key: a second message with the same id is skipped
    body: Body


class Unparseable(Exception):
    """The message cannot be understood at all: it goes to the dead letters with its raw bytes."""


# Every fresh message of one consumer batch for a route, in arrival order, in the batch's transaction (the routes'
# handlers one after another, in the order the service declared its routes: `consumer.apply_items`).
BatchHandler = Callable[[asyncpg.Connection, Sequence[tuple[Inbound, Parsed[T]]]], Awaitable[Sequence[Outgoing]]]
MessageHandler = Callable[[asyncpg.Connection, Parsed[T], Inbound], Awaitable[Sequence[Outgoing]]]


@dataclass(frozen=True)
class Route(Generic[T]):
    """How a consumer treats one topic: parse its records into T, and handle batches of them."""

    parse: Callable[[Inbound], Parsed[T]]
    # Routes sharing one handler get their messages in one call (issuance decides a payment and its Issue
    # request together when both are in a batch).
    handle: BatchHandler[T]
    # Optional: events for a message whose handler failed and which is dead-lettered (e.g. an error reply, so
    # the sender is not left without an answer).
    on_poison: Callable[[Inbound, Parsed[T], str, datetime], Sequence[Outgoing]] | None = None
    # False on a shared ingestion topic for every consumer but one: a stranger's unreadable bytes are kept and
    # announced once for the platform (by the keeper), not once per consumer group that reads the topic.
    keeps_unparseable: bool = True
    # Optional: False for a message the service has nothing to do with (another service's operation on the shared
    # ingestion topic). It is committed past without an inbox row or a handler call: no effect needs no dedup.
    wanted: Callable[[T], bool] | None = None
    # False for a message whose handling is safe to repeat and records nothing that must happen once (a query: its
    # reply is derived again under the same reply id, which readers drop as a repeat). It skips the inbox's
    # write: one statement less in the batch's transaction, and no inbox row to keep and prune.
    inbox: bool = True


class Routes(dict[str, Route[Any]]):
    """A consumer's routes by topic, where a sender's own topic (shared/topics.py) takes the route of the catalog
    topic it is a door to."""

    def __missing__(self, topic: str) -> Route[Any]:
        base = base_of(topic)
        if base == topic:
            raise KeyError(topic)
        return self[base]


def one_by_one(handler: MessageHandler[T]) -> BatchHandler[T]:
    """A route handler for a service that handles its messages one at a time."""

    async def handle(conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[T]]]) -> list[Outgoing]:
        out: list[Outgoing] = []
        for record, parsed in items:
            out.extend(await handler(conn, parsed, record))
        return out

    return handle


def check_size(record: Inbound, limit: int = MAX_MESSAGE_BYTES) -> None:
    if len(record.value) > limit:
        raise Unparseable(f"message of {len(record.value)} bytes exceeds the {limit}-byte limit")


# A JSON escape of NUL that is not itself an escaped backslash followed by "u0000" (an odd run of backslashes).
# pydantic's JSON parser already refuses lone surrogates and nesting beyond its recursion limit, but reads
# `\u0000` into a string that PostgreSQL cannot store (text or jsonb) and that would fail the handler instead.
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def parse_event(record: Inbound) -> Parsed[EventEnvelope]:
    """Parse a domain event envelope; dedup by its event_id."""
    check_size(record, MAX_EVENT_BYTES)
    # A substring test first (a few hundred ns per event): the regex only runs when an escape might be there.
    if b"\\u0000" in record.value and _NUL_ESCAPE.search(record.value):
        raise Unparseable("not an event envelope: a string contains NUL")
    try:
        envelope = read_envelope(record.value)
    except ValueError as exc:
        raise Unparseable(f"not an event envelope: {exc}") from exc
    return Parsed(message_id=envelope.event_id, body=envelope)
