"""Bounded storage: inbox keys and published outbox rows older than what they guard against are pruned.

An inbox key guards against a message delivered again: redelivery comes from a consumer that had not committed
the message's offset yet (minutes at most) or from the ingestion topics' 30-day retention; a published outbox row is
a copy of an event already on its topic (the topic is the history; the audit chain keeps its tail in
`outbox_chain_tail`, not in old rows). Inbox keys are kept `MESSAGING_RETENTION_DAYS` (default 35: past the 30 days
of the ingestion topics); published outbox rows only `OUTBOX_RETENTION_HOURS` (default 24, never longer than the
inbox's): nothing reads a published row but the relay-delay metric and an operator looking at recent output, and at
35 days the outbox would be most of the database (measured: about 2 KB a row, several rows an order; at 10 million
orders a day, 35 days of issuance's and payment confirmation's outbox alone are about 4 TB, one day about 120 GB,
docs/benchmarks.md "Bounded storage"). Both are deleted in batches of `PRUNE_BATCH` rows, one short transaction each, never more than
one batch per table at a time, so the hot path never waits behind a long delete. The batches run every
`PRUNE_EVERY_SECONDS` (default 60; the storage benchmark shortens it with the retention, so that a run of minutes
shows what days do), and back to back while a batch comes back full. Dead letters are not pruned (they
are evidence until an operator resolves them: docs/operations.md).

Keeping a group's offsets from being reset to before the retention is the operators' part (docs/scaling.md): a
consumer that re-read events older than that would apply them again. The audit replayer, not a consumer reset, is
how history is read again.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import asyncpg

PRUNE_BATCH = 5000
PRUNE_EVERY_SECONDS = float(os.environ.get("PRUNE_EVERY_SECONDS", "60"))


def retention() -> timedelta:
    """How long inbox keys (and the gateway's replies) are kept."""
    return timedelta(days=float(os.environ.get("MESSAGING_RETENTION_DAYS", "35")))


def outbox_retention() -> timedelta:
    """How long a published outbox row is kept: a shorter messaging retention (a benchmark's minutes) shortens it."""
    return min(timedelta(hours=float(os.environ.get("OUTBOX_RETENTION_HOURS", "24"))), retention())


async def prune_step(pool: asyncpg.Pool, keep: timedelta, now: datetime, keep_outbox: timedelta | None = None) -> bool:
    """One batch from each table (inbox keys older than `keep`, published outbox rows older than `keep_outbox`,
    default `keep`); True while a full batch was deleted (more may be due)."""
    cutoff = now - keep
    async with pool.acquire() as conn:
        # The B-tree on processed_at finds old keys at once, also when there are none (000_messaging_005).
        inbox = await conn.execute(
            "DELETE FROM inbox WHERE ctid = ANY(ARRAY(SELECT ctid FROM inbox WHERE processed_at < $1 LIMIT $2))",
            cutoff,
            PRUNE_BATCH,
        )
        # Only the oldest rows by seq are looked at: pruning eats the table from that end, so a table with nothing
        # to prune costs one short index range, never a scan of every row.
        outbox = await conn.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT $2)"
            " AND published_at IS NOT NULL AND created_at < $1",
            now - (keep if keep_outbox is None else keep_outbox),
            PRUNE_BATCH,
        )
    return PRUNE_BATCH in (_count(inbox), _count(outbox))


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])
