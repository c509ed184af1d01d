"""The relay's read of the outbox: the rows it has not read yet, in seq order, without walking what it published.

The floor (outbox_floor.py) is a seq below which every row is published; it trails the relay by the time its probe
waits for the server's running transactions, and with six services writing at once that is thousands of rows. A
read from the floor walked every published row above it to skip it (86 µs per paid order in the full pipeline:
docs/benchmarks.md, "The outbox at the final code"). So the reader also keeps a cursor:
- `next_seq`: no read has returned a row from here up;
- `unseen`: the seqs between the floor and `next_seq` that no read returned. Their transactions were still open when
  the read passed them (a seq is handed out when a row is written, not when it commits), or rolled back.
A read is the unseen seqs and the rows from `next_seq`, in one statement: one snapshot, in seq order, the same rows
a walk from the floor would return (the relay marks what it read before it reads again). A row committed after later
ones went out is still found, and still before any later row of its key, which waited for its transaction.

The floor forgets the unseen seqs below it: their rows are published or will never exist. Were the unseen to grow
past MAX_UNSEEN (a transaction left open on the server holds the floor, and the seqs of rolled-back rows pile up
below it), the reader walks from the floor, as before the cursor, until the floor moves again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

from shared.infra.outbox_floor import OutboxFloor

MAX_UNSEEN = 10_000

READ = """
SELECT seq, topic, key, value, event_type FROM (
    (SELECT seq, topic, key, value, event_type FROM outbox WHERE seq = ANY($3::bigint[]) AND published_at IS NULL)
    UNION ALL
    (SELECT seq, topic, key, value, event_type FROM outbox WHERE seq >= $2 AND published_at IS NULL
     ORDER BY seq LIMIT $1)
) unread ORDER BY seq LIMIT $1
"""


@dataclass
class Cursor:
    """Pure: what the reads so far have returned, above a floor."""

    next_seq: int = 0
    unseen: set[int] = field(default_factory=set)

    def rebase(self, floor: int) -> None:
        """The floor moved (or this is a new term): below it nothing is left to read."""
        if self.next_seq <= floor:
            self.next_seq, self.unseen = floor, set()
        elif self.unseen and min(self.unseen) < floor:
            self.unseen = {seq for seq in self.unseen if seq >= floor}

    def after_read(self, returned: Sequence[int], floor: int) -> None:
        """A read returned these seqs (ascending): they are seen; the ones it passed over become unseen."""
        self.unseen.difference_update(returned)
        top = returned[-1] + 1 if returned else self.next_seq
        if top <= self.next_seq:
            return  # all of them were unseen ones, or nothing: the new rows are still to come
        passed = top - self.next_seq - sum(1 for seq in returned if seq >= self.next_seq)
        if len(self.unseen) + passed > MAX_UNSEEN:
            self.next_seq, self.unseen = floor, set()  # walk from the floor until it moves
            return
        if passed:
            self.unseen.update(set(range(self.next_seq, top)).difference(returned))
        self.next_seq = top


@dataclass
class OutboxReader:
    """One per relay term, on the relay's own connection, beside the floor it moves."""

    floor: OutboxFloor
    cursor: Cursor = field(default_factory=Cursor)

    async def read(self, conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
        await self.floor.advance(conn)
        self.cursor.rebase(self.floor.seq)
        rows: list[asyncpg.Record] = await conn.fetch(READ, limit, self.cursor.next_seq, sorted(self.cursor.unseen))
        self.cursor.after_read([r["seq"] for r in rows], self.floor.seq)
        return rows
