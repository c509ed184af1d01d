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
2. Take a transaction id of the relay's own, `X` (`pg_current_xact_id()`, in an autocommit statement that ends at
   once): the probe. Every transaction that holds a seq up to `L` took its id before its seq (the trigger in
   shared/infra/sql/000_messaging_006_outbox_floor.sql), so before step 1, so below `X`.
3. Later, once a new snapshot's xmin (its oldest running transaction) is past `X`, every transaction below `X` has
   ended. In that same snapshot, the lowest unpublished seq up to `L`, or L + 1 if none, is the new floor.
Why not the list of running transactions a snapshot gives (`pg_snapshot_xip`), as a first version did: that list
holds only the transactions below the snapshot's xmax, which is the newest *ended* transaction plus 1. The newest
running transaction is not in it: a probe taken while the transaction holding a seq was the newest one of the server
saw nothing running, and the floor rose past a row committed later, which was then never published (about 1 run in
4 of the relay test; tests/integration/test_outbox_floor.py now reproduces it every time).
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
    horizon: int  # a transaction id (xid8) taken just after: every holder of a seq up to handed_out is below it


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
                "SELECT CASE WHEN pg_snapshot_xmin(pg_current_snapshot()) <= $3::xid8 THEN NULL"
                " ELSE (SELECT coalesce(min(seq), $2 + 1) FROM outbox"
                "       WHERE published_at IS NULL AND seq >= $1 AND seq <= $2) END",
                self.seq,
                self._probe.handed_out,
                self._probe.horizon,
            )
            if moved is None:
                return  # some older than the probe are still running: keep waiting for them, not for newer ones
            self.seq = max(self.seq, int(moved))
        handed_out = await conn.fetchval("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM outbox_seq_seq")
        if handed_out < self.seq:
            self._probe = None  # nothing handed out since the floor last moved: no transaction id spent to wait for
            return
        horizon = await conn.fetchval("SELECT pg_current_xact_id()")
        self._probe = Probe(int(handed_out), int(horizon))
