"""Redemption's periodic steps, registered in app.py: the expiry scheduler and the waiting-request sweep.

The waiting-request sweep (`WaitingSweep`): a parked request is normally answered by the TicketsIssued handler
as soon as its ticket arrives. The sweep answers the ones whose deadline passed (TICKET_NOT_FOUND), and the ones
whose ticket committed while they were being parked, so that neither transaction saw the other.

The expiry scheduler (`ExpiryScheduler`) is durable: due times live in `tickets.due_at`; each sweep expires
what is due by now.

Bounded work: one transaction handles at most `batch_size` tickets (FOR UPDATE SKIP LOCKED, oldest due first),
so a million tickets expiring at the same midnight are a stream of small batches, never one big read (at most
`workers` batches are in memory at once). Live requests are not starved: rows a request holds are skipped (that
request catches the expiry up itself), a request never waits on more than one batch's rows, and the loop yields to
the event loop within a batch.

Throughput: the batches form a pipeline. Each worker runs its batches one after the other, and deciding (pure
Python, on the one event-loop thread) is taken in turns, so one batch decides while the others wait on Postgres.
Without the turns the workers shared the CPU in lockstep (the loop yields every YIELD_EVERY tickets), reached
Postgres together and left the CPU idle meanwhile (about a tenth of the throughput).

Live requests are not starved by the relay either: it publishes the outbox in order, so a reply appended behind a
long run of expiry events would wait for all of them (seconds, in a flood of a million), and when it runs in this
instance it shares this event loop. So a worker takes its next batch only while the relay has at most `relay_lag`
batches of events left to publish. If the relay is stuck (Kafka down), expiry pauses with it instead of piling up
more unpublished events: the tickets stay due, and a request still catches its ticket's expiry up itself.

Sandbox test clocks: real-time merchants share one indexed range scan `due_at <= now`. Each merchant whose
clock runs ahead gets its own scan `merchant_id = X AND due_at <= now + offset` (index on merchant_id, due_at).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.redemption import store
from services.redemption.domain import Ticket, decide, expiry_of
from services.redemption.handlers import RedemptionHandlers
from services.redemption.outbound import wrapped
from shared.contracts.events import Event, Outgoing
from shared.infra import outbox
from shared.infra.service import Runtime

YIELD_EVERY = 200  # tickets decided between two yields to the event loop (the consumer shares it)
# Full batches a worker takes in a row for one clock before the sweep moves on to the next (sandbox) clock.
TURN = 10
RELAY_WAIT_SECONDS = 0.02  # how often a worker held back looks at the relay's progress again


@dataclass
class ExpiryScheduler:
    runtime: Runtime
    batch_size: int
    # Batches in flight at once (SKIP LOCKED keeps them disjoint): one decides while the others wait on Postgres.
    workers: int = 2
    # Batches of events the relay may have left to publish before workers wait for it (see above): at 4 a reply
    # waits at most about 0.4 s behind a flood on the bench machine; at 2 a million expired at 19,200 tickets/s
    # instead of 20,800 (one noisy run each).
    relay_lag: int = 4
    _deciding: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)
    _relay_floor: int = field(default=0, init=False, repr=False)  # see outbox.backlog

    async def step(self) -> bool:
        """Batches for real time, then for each merchant whose clock runs ahead; True if more may be due."""
        more = False
        for merchant_id, horizon in self._horizons():
            # A task group, not gather: when one worker fails (the database restarted), the others are stopped
            # too instead of running on unwatched beside the next step's workers. Each batch is one transaction,
            # so a stopped worker leaves nothing half done.
            async with asyncio.TaskGroup() as workers:
                turns = [workers.create_task(self._turn(horizon, merchant_id)) for _ in range(self.workers)]
            more = more or any(t.result() for t in turns)
        return more

    async def _turn(self, horizon: datetime, merchant_id: str | None) -> bool:
        """One worker's batches while they come back full, at most TURN; True if the last one was full."""
        for _ in range(TURN):
            await self._let_the_relay_keep_up()
            if await self.expire_batch(horizon, merchant_id) < self.batch_size:
                return False
        return True

    async def _let_the_relay_keep_up(self) -> None:
        """Wait while the relay has more than `relay_lag` batches of events left to publish."""
        while True:
            async with self.runtime.pool.acquire() as conn:
                waiting, self._relay_floor = await outbox.backlog(conn, self._relay_floor)
            if waiting <= self.relay_lag * self.batch_size:
                return
            await asyncio.sleep(RELAY_WAIT_SECONDS)

    async def expire_batch(self, horizon: datetime, merchant_id: str | None = None) -> int:
        """Expire up to `batch_size` tickets due by `horizon` in one transaction; returns how many changed."""
        runtime = self.runtime
        async with runtime.pool.acquire() as conn, conn.transaction():
            due = await store.lock_due(conn, horizon, self.batch_size, merchant_id)
            async with self._deciding:
                changed, out = await self._decide(due)
            await store.save(conn, changed, runtime.clock.now())
            await outbox.append_many(conn, runtime.schema, out)
        return len(changed)

    async def _decide(self, due: list[Ticket]) -> tuple[list[Ticket], list[Outgoing]]:
        """The pure core's expiry of each ticket: the tickets that changed and their events, ready to store."""
        clock = self.runtime.clock
        # One instant per merchant for the whole batch (one transaction): reading the sandbox-shifted clock for
        # every ticket was a noticeable share of the cost of an expiry.
        instants: dict[str, datetime] = {}
        changed: list[Ticket] = []
        events: list[Event] = []
        for index, ticket in enumerate(due, start=1):
            now = instants.get(ticket.merchant_id)
            if now is None:
                now = instants[ticket.merchant_id] = clock.now(ticket.merchant_id)
            decision = decide(ticket, expiry_of(ticket), now)
            if decision.events and decision.ticket is not None:
                changed.append(decision.ticket)
                events.extend(decision.events)
            if index % YIELD_EVERY == 0:
                await asyncio.sleep(0)
        return changed, wrapped(events, None, clock.now())

    def _horizons(self) -> list[tuple[str | None, datetime]]:
        now = self.runtime.clock.now()
        clocks = self.runtime.sandbox_clocks
        ahead: dict[str, timedelta] = clocks.shifted() if clocks is not None else {}
        return [(None, now), *((merchant_id, now + offset) for merchant_id, offset in sorted(ahead.items()))]


@dataclass
class WaitingSweep:
    runtime: Runtime
    handlers: RedemptionHandlers

    async def step(self) -> bool:
        """Answer waiting requests whose deadline passed or whose ticket is known by now; True if more remain."""
        runtime = self.runtime
        async with runtime.pool.acquire() as conn, conn.transaction():
            claimed = await store.claim_ready(conn, runtime.clock.now(), self.handlers.code_key)
            await outbox.append(conn, runtime.schema, await self.handlers.decide_waiting(conn, claimed))
        return len(claimed) >= store.CLAIM_LIMIT
