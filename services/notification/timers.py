"""The delivery loop: claims due notifications and sends each in a task of its own.

Bounds, so a slow or dead endpoint delays nobody else: at most `per_merchant` notifications in flight to one merchant
(its further due ones are not even claimed until one ends), at most `concurrency` in all, each POST cut at
`timeout`. A claimed notification is leased (not due again) for the timeout plus a margin: if this process dies
mid-attempt it is sent again after the lease, with the same NotificationID.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.notification.attempts import Attempter
from services.notification.config import NotifyConfig
from services.notification.recorder import Recorder
from services.notification.store import deliveries
from services.notification.store.deliveries import Due
from shared.infra.service import Runtime

log = logging.getLogger(__name__)

ORDER_RECHECK = timedelta(seconds=0.5)  # a notification waiting for its order's TicketsIssued looks again after
CLAIM_MOST = 1000


@dataclass
class DeliveryLoop:
    runtime: Runtime
    config: NotifyConfig
    attempter: Attempter
    recorder: Recorder
    in_flight: dict[str, int] = field(default_factory=dict)  # merchant -> notifications being sent
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def step(self) -> bool:
        free = self.config.concurrency - len(self.tasks)
        if free <= 0:
            return False
        now = self.runtime.clock.now()
        busy = [m for m, n in self.in_flight.items() if n >= self.config.per_merchant]
        limit = min(free * 4, CLAIM_MOST)
        async with self.runtime.pool.acquire() as conn, conn.transaction():
            found = await deliveries.due(conn, now, busy, limit)
            taken, waiting = self._pick(found, free, now)
            lease = timedelta(seconds=self.config.timeout) + self.config.lease_margin
            await deliveries.lease(conn, [d.notification_id for d in taken], now + lease)
            await deliveries.lease(conn, [d.notification_id for d in waiting], now + ORDER_RECHECK)
        for due in taken:
            self.in_flight[due.merchant_id] = self.in_flight.get(due.merchant_id, 0) + 1
            task = asyncio.create_task(self._deliver(due))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return bool(taken) and len(found) >= limit

    def _pick(self, found: list[Due], free: int, now: datetime) -> tuple[list[Due], list[Due]]:
        """Within the bounds, the oldest due first; a notification whose order is not known yet waits for its
        TicketsIssued (which may name a URL) for `order_wait` after it was written."""
        taken: list[Due] = []
        waiting: list[Due] = []
        counts = dict(self.in_flight)
        for due in found:
            if due.order is None and now - due.created_at < self.config.order_wait:
                waiting.append(due)
                continue
            if len(taken) >= free or counts.get(due.merchant_id, 0) >= self.config.per_merchant:
                continue  # left due: claimed on a later step
            counts[due.merchant_id] = counts.get(due.merchant_id, 0) + 1
            taken.append(due)
        return taken, waiting

    async def _deliver(self, due: Due) -> None:
        try:
            await self.recorder.record(await self.attempter.attempt(due))
        except Exception:
            # Still leased: it is tried again when the lease ends (the database may be restarting).
            log.exception("notification %s: the attempt could not be recorded", due.notification_id)
        finally:
            left = self.in_flight.get(due.merchant_id, 1) - 1
            if left:
                self.in_flight[due.merchant_id] = left
            else:
                self.in_flight.pop(due.merchant_id, None)

    async def close(self) -> None:
        """Let attempts in flight finish (each is bounded by the timeout); what is cut off is retried after its
        lease."""
        if self.tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self.tasks, return_exceptions=True), self.config.timeout + 1)
        for task in list(self.tasks):
            task.cancel()
