"""Recording attempts' outcomes in groups: one transaction for every outcome that finished while the previous one
was committing.

A burst of notifications (a daily batch, a wave to a thousand merchants) would otherwise cost one durable commit
(an fsync) per attempt, and a merchant's delivery slot stays taken until its outcome is recorded: measured with
fsync on, 900 notifications at once took 1.9 s to the last one with a commit each (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg

from services.notification.store import deliveries
from services.notification.store import log as delivery_log
from services.notification.store.deliveries import Settled
from services.notification.store.log import Attempt

Outcome = tuple[Settled, Attempt]


@dataclass
class Recorder:
    pool: asyncpg.Pool
    _waiting: list[tuple[Outcome, asyncio.Future[None]]] = field(default_factory=list)
    _flushing: asyncio.Task[None] | None = None

    async def record(self, outcome: Outcome) -> None:
        """Return once `outcome` is committed; raise what its group's transaction raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((outcome, done))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    async with self.pool.acquire() as conn, conn.transaction():
                        await deliveries.settle(conn, [settled for (settled, _), _ in group])
                        await delivery_log.append(conn, [attempt for (_, attempt), _ in group])
                except Exception as exc:
                    for _, done in group:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in group:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._flushing = None
