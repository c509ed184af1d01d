"""The relay's side of the event chain (shared/chain.py): links recorded in the outbox, signed checkpoints.

Before a batch is sent, the relay commits, waiting for the disk whatever its session otherwise does, which rows it
linked in which order after which link, and the chain's new end: one small row per batch, not a write per event.
Marking the batch published stores each row's link beside it and drops that record. A relay or database restart
in between sends the batch again with the same links (the rows' bytes never change), instead of linking again rows
whose order may have changed meanwhile (a transaction that commits late puts a row with a lower outbox seq behind
rows already sent).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import chain
from shared.settings import Settings
from shared.topics import AUDIT_CHECKPOINTS, CATALOG, FOREVER

# What auditors replay: the topics kept forever (domain events, instructions, bank statements, rejections). Replies
# and other ingestion topics expire after 30 days: a link on them would leave holes in the chain when they do.
CHAINED_TOPICS = frozenset(
    t.name for t in CATALOG if t.retention_ms == FOREVER and not t.compacted and t.name != AUDIT_CHECKPOINTS
)


def is_chained(topic: str) -> bool:
    """A kept-forever topic, or a copy of one named `<topic>.<suffix>` (a test's or a rehearsal's own topics)."""
    return topic in CHAINED_TOPICS or any(topic.startswith(t + ".") for t in CHAINED_TOPICS)


CHECKPOINT_EVENTS = 5000  # a checkpoint at least every this many events of the service ...
CHECKPOINT_SECONDS = 5.0  # ... and within this long of its last event


@dataclass
class Tail:
    """The end of a service's chain: its last event's place and link."""

    service: str
    seq: int
    link: bytes


@dataclass
class Batch:
    """Outbox rows ready to send: `rows[i]` has `links[i]` (None for a row on a topic that is not chained)."""

    rows: list[asyncpg.Record]
    links: list[chain.Link | None]


async def load_tail(conn: asyncpg.Connection, service: str) -> Tail:
    row = await conn.fetchrow("SELECT seq, link FROM outbox_chain_tail")
    if row is None:
        return Tail(service, 0, chain.genesis(service))
    return Tail(service, row["seq"], bytes(row["link"]))


async def pending(conn: asyncpg.Connection, service: str) -> list[Batch]:
    """The batches an earlier relay term linked but did not mark published, in chain order, with their links."""
    batches = []
    for first_seq, prev, seqs in await conn.fetch("SELECT first_seq, prev, rows FROM outbox_chain_pending ORDER BY 1"):
        found = await conn.fetch("SELECT seq, topic, key, value, event_type FROM outbox WHERE seq = ANY($1)", seqs)
        by_seq = {r["seq"]: r for r in found}
        rows = [by_seq[s] for s in seqs]
        links = chain.extend(service, first_seq - 1, bytes(prev), [(r["topic"], r["key"], r["value"]) for r in rows])
        batches.append(Batch(rows, list(links)))
    return batches


async def link(conn: asyncpg.Connection, tail: Tail, rows: Sequence[asyncpg.Record]) -> Batch:
    """Link the rows of `rows` on chained topics (in the order given) after `tail`, record that durably, and move
    `tail` to the last."""
    chained = [r for r in rows if r["topic"] in CHAINED_TOPICS or is_chained(r["topic"])]
    if not chained:
        return Batch(list(rows), [None] * len(rows))
    links = chain.extend(tail.service, tail.seq, tail.link, [(r["topic"], r["key"], r["value"]) for r in chained])
    async with conn.transaction():
        # The relay's session commits asynchronously (a lost "published" mark only republishes); a lost link could
        # be assigned differently next time, to events Kafka already has: this commit waits for the disk.
        await conn.execute("SET LOCAL synchronous_commit = on")
        await conn.execute(
            "WITH batch AS (INSERT INTO outbox_chain_pending (first_seq, prev, rows) VALUES ($1, $2, $3))"
            " INSERT INTO outbox_chain_tail (seq, link) VALUES ($4, $5)"
            " ON CONFLICT (only_row) DO UPDATE SET seq = excluded.seq, link = excluded.link",
            links[0].seq,
            links[0].prev,
            [r["seq"] for r in chained],
            links[-1].seq,
            links[-1].link,
        )
    tail.seq, tail.link = links[-1].seq, links[-1].link
    by_seq = {r["seq"]: x for r, x in zip(chained, links, strict=True)}
    return Batch(list(rows), [by_seq.get(r["seq"]) for r in rows])


async def mark_published(conn: asyncpg.Connection, batch: Batch) -> None:
    """The batch is in Kafka: each row keeps its link (the outbox stays the service's own history, comparable with
    the log) and the pending record goes, in one statement."""
    first = next((x.seq for x in batch.links if x is not None), None)
    await conn.execute(
        "WITH done AS (DELETE FROM outbox_chain_pending WHERE first_seq = $5)"
        " UPDATE outbox o SET published_at = now(), chain_seq = u.chain_seq, chain_prev = u.chain_prev,"
        " chain_link = u.chain_link"
        " FROM unnest($1::bigint[], $2::bigint[], $3::bytea[], $4::bytea[]) AS u(seq, chain_seq, chain_prev,"
        " chain_link) WHERE o.seq = u.seq",
        [r["seq"] for r in batch.rows],
        [None if x is None else x.seq for x in batch.links],
        [None if x is None else x.prev for x in batch.links],
        [None if x is None else x.link for x in batch.links],
        first,
    )


@dataclass
class Checkpointer:
    """Signs the chain's tail every `every_events` events, or `every_seconds` after an event it has not signed."""

    key: Ed25519PrivateKey = field(repr=False)
    key_id: str
    every_events: int = CHECKPOINT_EVENTS
    every_seconds: float = CHECKPOINT_SECONDS
    _signed_seq: int = field(default=0, init=False)
    _signed_at: float = field(default_factory=time.monotonic, init=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Checkpointer:
        return cls(
            chain.private_key_from_hex(settings.audit_signing_key_hex),
            settings.audit_key_id,
            int(os.environ.get("AUDIT_CHECKPOINT_EVENTS", CHECKPOINT_EVENTS)),
            float(os.environ.get("AUDIT_CHECKPOINT_SECONDS", CHECKPOINT_SECONDS)),
        )

    def restart(self) -> None:
        """A new relay term: sign its tail soon, even if a previous term already did (it is cheap)."""
        self._signed_seq, self._signed_at = 0, time.monotonic()

    def due(self, tail: Tail, *, final: bool = False) -> bool:
        if tail.seq <= self._signed_seq:
            return False
        elapsed = time.monotonic() - self._signed_at
        return final or tail.seq - self._signed_seq >= self.every_events or elapsed >= self.every_seconds

    def sign(self, tail: Tail) -> chain.Checkpoint:
        self._signed_seq, self._signed_at = tail.seq, time.monotonic()
        unsigned = chain.Checkpoint(tail.service, tail.seq, tail.link, datetime.now(UTC), self.key_id)
        return unsigned.signed(self.key)
