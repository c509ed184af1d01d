"""Where the relay's read of the outbox starts: a seq below which every row is published.

Why: the relay finds unpublished rows through the partial index `outbox_unpublished` (seq WHERE published_at IS
NULL). Marking a row published leaves its entry in that index, pointing at a dead row version, until VACUUM removes
it, and autovacuum comes rarely to a large outbox (a fifth of its rows must be dead first: 24 hours of events are
kept). A read from the start of the index walked every entry published since the last VACUUM: on an outbox of 4.7
million rows the relay's read took 5 ms and 104 µs per row it returned, against 12 µs on a fresh one (docs/
benchmarks.md, "Memory at the peak, and the relay's read of the outbox"). From a floor it walks only what was
published since the floor last moved.

Why not simply the highest seq published so far: seqs are handed out when a row is written, not when its
transaction commits. A transaction that took seq 100 can commit after rows 101-150 were published; the relay must
still find row 100, and before a later event of the same key (which waited for 100's transaction to commit first:
the same ticket's lock).

So the floor moves only past seqs whose transactions are all known to be over:
1. Read the last seq handed out, `L` (a statement of its own, before step 2).
2. Take the transactions running now, from a snapshot (`pg_snapshot_xip`): the probe.
3. Later, once none of them is running in a new snapshot, every transaction that holds a seq up to `L` has ended:
   it took its seq before step 1, and its transaction id before its seq (the trigger in
   shared/infra/sql/000_messaging_006_outbox_floor.sql), so it was running in step 2 or had ended before it. In that
   same snapshot, the lowest unpublished seq up to `L`, or L + 1 if none, is the new floor.
The sequence must hand out one value at a time (CACHE 1, set by the same migration): a session holding a cached
block could write a seq up to `L` long after step 2.

The probe waits for every writing transaction of the whole server, not only this outbox's: one that stays open
(someone's psql left in a transaction) holds the floor where it is, and the relay then reads as it did before the
floor, slower but complete. Checked every ADVANCE_SECONDS at most: the floor trails the relay by about that much.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import asyncpg

ADVANCE_SECONDS = 0.1


@dataclass(frozen=True)
class Probe:
    handed_out: int  # the last seq the sequence had handed out (0: none yet)
    running: list[str]  # the ids (xid8, as text) of the transactions running just after it was read


@dataclass
class OutboxFloor:
    """One per relay term, on the relay's own connection (autocommit: each statement takes a new snapshot)."""

    seq: int = 0  # every outbox row below it is published, or was never committed and never will be
    every_seconds: float = ADVANCE_SECONDS
    _probe: Probe | None = field(default=None, init=False)
    _checked_at: float = field(default=float("-inf"), init=False)

    async def advance(self, conn: asyncpg.Connection) -> None:
        """Move the floor up if the last probe's transactions have all ended, and probe again."""
        now = time.monotonic()
        if now - self._checked_at < self.every_seconds:
            return
        self._checked_at = now
        if self._probe is not None:
            moved = await conn.fetchval(
                "SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) AS r"
                "                         WHERE r = ANY($3::text[]::xid8[]))"
                " THEN NULL"
                " ELSE (SELECT coalesce(min(seq), $2 + 1) FROM outbox"
                "       WHERE published_at IS NULL AND seq >= $1 AND seq <= $2) END",
                self.seq,
                self._probe.handed_out,
                self._probe.running,
            )
            if moved is None:
                return  # some are still running: keep waiting for them, not for newer ones
            self.seq = max(self.seq, int(moved))
        handed_out = await conn.fetchval("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM outbox_seq_seq")
        running = await conn.fetchval("SELECT array(SELECT pg_snapshot_xip(pg_current_snapshot())::text)")
        self._probe = Probe(int(handed_out), list(running))
