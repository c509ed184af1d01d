"""Where the relay's read of the outbox starts: a seq below which every row is published.

Why: no index tells published rows from unpublished ones (an index over `published_at` would make every mark a
non-HOT update that writes an entry in each of the table's indexes: 000_messaging_007_outbox_hot_marks.sql). The
relay reads the primary key's range from the floor and skips what is published in it, so a read walks only what
was published since the floor last moved (and within a term not even that: outbox_read.py goes on from its last
read). The floor is kept in the one-row table `outbox_floor`, so a new relay term
(and the metrics, and the ops view, through the function `outbox_backlog()`) starts from it, not from the outbox's
first row. (Before that, with a partial index of unpublished rows, the floor spared the read that index's dead
entries: on an outbox of 4.7 million rows a read from the index's start took 104 µs per row it returned, against 12
µs on a fresh one; docs/benchmarks.md, "Memory at the peak, and the relay's read of the outbox".)

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
(someone's psql left in a transaction) holds the floor where it is, and each read then walks every row published
since, slower but complete. Checked every ADVANCE_SECONDS at most: the floor trails the relay by about that much.
A floor stored is only ever one the probe allowed, written after the marks it relies on on the same connection, so
a crash that loses the marks (their commit does not wait for the disk) loses the newer floor with them.
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

    @classmethod
    async def stored(cls, conn: asyncpg.Connection, every_seconds: float = ADVANCE_SECONDS) -> OutboxFloor:
        """The floor the last relay term reached, to start a new term from."""
        return cls(int(await conn.fetchval("SELECT seq FROM outbox_floor")), every_seconds)

    async def advance(self, conn: asyncpg.Connection) -> None:
        """Move the floor up if the last probe's transactions have all ended (and store it), and probe again."""
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
            if int(moved) > self.seq:
                self.seq = int(moved)
                await conn.execute("UPDATE outbox_floor SET seq = $1 WHERE seq < $1", self.seq)
        handed_out = await conn.fetchval("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM outbox_seq_seq")
        if handed_out < self.seq:
            self._probe = None  # nothing handed out since the floor last moved: no transaction id spent to wait for
            return
        horizon = await conn.fetchval("SELECT pg_current_xact_id()")
        self._probe = Probe(int(handed_out), int(horizon))
