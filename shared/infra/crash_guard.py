"""Noticing a message that kills its consumer process, so a restart does not die on it again.

An exception never stops a consumer (`consumer.py` dead-letters the message), but a process can still die while
handling one (out of memory, a native crash, kill -9). Offsets are committed only after a batch, so a restart
fetches the same range again. Each batch start is recorded (one upsert per batch, not waiting for fsync: only the
service process dies here, not Postgres); a second start inside a range that was never got past makes that
partition's messages be handled one at a time, each marked first; a message that was being handled alone when
the process died twice is dead-lettered instead of handled again. A false alarm (a kill -9 or a rebalance inside a
range) costs only the slower one-at-a-time pass over that range.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.infra.messages import Inbound

CAREFUL_FROM_ATTEMPT = 2  # the first restart inside an unfinished range
# The message was in hand, alone, at two deaths. One is not enough: a kill -9 that lands during the one-at-a-time
# pass always finds *some* message alone, and the restart resumes at that very message (seen in a crash test with
# two kills 0.8 s apart: a good payment fact was dead-lettered). A message that kills its consumer does so every time.
DEAD_FROM_ALONE_ATTEMPT = 3

Partition = tuple[str, int]
# Joined into each statement, so that its own implicit transaction commits without waiting for the WAL flush: one
# round trip instead of BEGIN, SET LOCAL, the statement and COMMIT (measured: 9-13% of a consumer's time in a flood
# of small batches went to those four).
NO_FSYNC_WAIT = "(SELECT set_config('synchronous_commit', 'off', true)) AS no_fsync_wait"


class CrashGuard:
    def __init__(self, pool: asyncpg.Pool, consumer: str) -> None:
        self.pool = pool
        self.consumer = consumer

    async def enter(self, records: Sequence[Inbound]) -> set[Partition]:
        """Record the batch's ranges; the partitions whose range was started before without being finished."""
        ranges: dict[Partition, list[int]] = {}
        for r in records:
            span = ranges.setdefault((r.topic, r.partition), [r.offset, r.offset])
            span[0], span[1] = min(span[0], r.offset), max(span[1], r.offset)
        if not ranges:
            return set()
        rows = await self.pool.fetch(
            f"""
                INSERT INTO consumer_attempts AS a (consumer, topic, partition, first_offset, last_offset, attempts)
                SELECT $1, t, p, f, l, 1
                FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[]) AS u(t, p, f, l), {NO_FSYNC_WAIT}
                ON CONFLICT (consumer, topic, partition) DO UPDATE SET
                    attempts = CASE WHEN EXCLUDED.first_offset BETWEEN a.first_offset AND a.last_offset
                                    THEN a.attempts + 1 ELSE 1 END,
                    first_offset = CASE WHEN EXCLUDED.first_offset BETWEEN a.first_offset AND a.last_offset
                                        THEN a.first_offset ELSE EXCLUDED.first_offset END,
                    last_offset = CASE WHEN EXCLUDED.first_offset BETWEEN a.first_offset AND a.last_offset
                                       THEN a.last_offset ELSE EXCLUDED.last_offset END
                RETURNING topic, partition, attempts
                """,
            self.consumer,
            [t for t, _ in ranges],
            [p for _, p in ranges],
            [f for f, _ in ranges.values()],
            [last for _, last in ranges.values()],
        )
        return {(r["topic"], r["partition"]) for r in rows if r["attempts"] >= CAREFUL_FROM_ATTEMPT}

    async def died_alone_on(self, record: Inbound) -> bool:
        """Mark `record` as handled alone now; True when the process died the last two times it was (skip it)."""
        attempts = await self.pool.fetchval(
            f"""
                UPDATE consumer_attempts
                SET single_attempts = CASE WHEN single_offset = $4 THEN single_attempts + 1 ELSE 1 END,
                    single_offset = $4
                FROM {NO_FSYNC_WAIT}
                WHERE consumer = $1 AND topic = $2 AND partition = $3
                RETURNING single_attempts
                """,
            self.consumer,
            record.topic,
            record.partition,
            record.offset,
        )
        return attempts is not None and attempts >= DEAD_FROM_ALONE_ATTEMPT
