"""The durable expiry scheduler: due times live in `tickets.due_at`; each sweep expires what is due by now.

Bounded work: one transaction handles at most `batch_size` tickets (FOR UPDATE SKIP LOCKED, oldest due first),
so a million tickets expiring at the same midnight are a stream of small batches, never one big read (at most
`workers` batches are in memory at once). Live
requests are not starved: rows a request holds are skipped (that request catches the expiry up itself), a
request never waits on more than one batch's rows, and the loop yields to the event loop within a batch.

Sandbox test clocks: real-time merchants share one indexed range scan `due_at <= now`. Each merchant whose
clock runs ahead gets its own scan `merchant_id = X AND due_at <= now + offset` (index on merchant_id, due_at).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.redemption import store
from services.redemption.domain import Ticket, decide
from services.redemption.outgoing import wrapped
from services.redemption.schedule import expiry_of
from shared.contracts.events import Event
from shared.infra import outbox
from shared.infra.service import Runtime

YIELD_EVERY = 200  # tickets decided between two yields to the event loop (the consumer shares it)


@dataclass
class ExpiryScheduler:
    runtime: Runtime
    batch_size: int
    # Batches in flight at once (SKIP LOCKED keeps them disjoint): one computes while another waits on Postgres.
    workers: int = 2

    async def step(self) -> bool:
        """Batches for real time, then for each merchant whose clock runs ahead; True if any batch was full."""
        full = False
        for merchant_id, horizon in self._horizons():
            done = await asyncio.gather(*(self.expire_batch(horizon, merchant_id) for _ in range(self.workers)))
            full = full or max(done) >= self.batch_size
        return full

    async def expire_batch(self, horizon: datetime, merchant_id: str | None = None) -> int:
        """Expire up to `batch_size` tickets due by `horizon` in one transaction; returns how many changed."""
        runtime = self.runtime
        async with runtime.pool.acquire() as conn, conn.transaction():
            due = await store.lock_due(conn, horizon, self.batch_size, merchant_id)
            changed: list[Ticket] = []
            events: list[Event] = []
            for index, ticket in enumerate(due, start=1):
                decision = decide(ticket, expiry_of(ticket), runtime.clock.now(ticket.merchant_id))
                if decision.events and decision.ticket is not None:
                    changed.append(decision.ticket)
                    events.extend(decision.events)
                if index % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            now = runtime.clock.now()
            await store.save(conn, changed, now)
            await outbox.append(conn, runtime.schema, wrapped(events, None, now))
        return len(changed)

    def _horizons(self) -> list[tuple[str | None, datetime]]:
        now = self.runtime.clock.now()
        clocks = self.runtime.sandbox_clocks
        ahead: dict[str, timedelta] = clocks.shifted() if clocks is not None else {}
        return [(None, now), *((merchant_id, now + offset) for merchant_id, offset in sorted(ahead.items()))]
