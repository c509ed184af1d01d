"""payment-confirmation's periodic step, registered in app.py: the verifier, which confirms or rejects the waiting
results once the payment processor has answered for them.

One step is one transaction: claim up to `batch` due results (FOR UPDATE SKIP LOCKED, so any number of instances
may run verifiers side by side and never take the same result), ask the processor about all their orders in ONE
trade query, decide each result (`domain.verification.verify`, then `domain.repeats.place_all` for the ones it
vouches for), store the outcomes and append the events. A crash anywhere before the commit leaves the results
waiting, and the redo publishes the same event ids.

When the processor gives no usable answer (unreachable, an HTTP error, a timeout, a bad signature), nothing is
decided: the claimed results are postponed and the verifier pauses, the pauses doubling while the outage lasts,
and says so in the log. A result is never rejected for the processor's fault.

The verifier runs at once after a consumer batch queued results (the handlers set `wake` from inside that batch's
transaction): it lets `gather_seconds` pass for the transaction to commit and more results to gather, and while it
finds nothing due it looks again that often, up to EARLY_WAKE_STEPS times (a loaded machine commits late).
Otherwise it looks every `poll_seconds` (results due again after a pause, results queued by another instance).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import asyncpg

from services.payment_confirmation import outbound
from services.payment_confirmation.config import PaymentConfig
from services.payment_confirmation.domain.repeats import Duplicate, First, place_all
from services.payment_confirmation.domain.verification import (
    Confirm,
    ProcessorTrade,
    Reject,
    Retry,
    trades_by_order,
    verify,
)
from services.payment_confirmation.processor import ProcessorUnavailable, TradeQuery
from services.payment_confirmation.store import payments, waiting
from services.payment_confirmation.store.waiting import WaitingResult
from shared.contracts.events import Outgoing
from shared.infra import outbox
from shared.infra.faults import Backoff, is_transient
from shared.infra.service import Runtime

log = logging.getLogger(__name__)

# Placing a batch's payments loops only when another verifier recorded a payment of the same order meanwhile; the
# second pass sees it (its INSERT waited for that transaction to commit). More passes would be a bug.
MAX_PLACING_PASSES = 3
# After a wake, how many times the verifier looks again (gather_seconds apart) while it finds nothing due.
EARLY_WAKE_STEPS = 10


@dataclass
class PaymentVerifier:
    runtime: Runtime
    processor: TradeQuery
    config: PaymentConfig
    wake: asyncio.Event
    _outage: Backoff = field(init=False)
    _pause: float = field(default=0.0, init=False)  # seconds to stay quiet after an outage, wakes or not
    _unavailable: bool = field(default=False, init=False)  # the last query got no usable answer

    def __post_init__(self) -> None:
        self._outage = Backoff(self.config.outage_first_seconds, self.config.outage_most_seconds)

    async def run(self) -> None:
        """Verify batches until the service stops: at once while they come back full, after a wake, or every poll."""
        stopping = self.runtime.stopping
        failing = False
        early = 0  # steps after a wake that found nothing due (yet)
        while not stopping.is_set():
            self.wake.clear()  # a wake from here on means results the coming step may not see
            try:
                claimed = await self.step()
            except Exception as exc:
                if is_transient(exc):
                    log.warning("payment verification failed (%r); retrying", exc)
                else:
                    log.exception("payment verification failed; retrying")
                failing, claimed = True, -1
            else:
                if failing:
                    log.info("payment verification works again")
                    failing = False
            if self._pause:  # the processor could not be asked: quiet, whatever wakes it
                await self._sleep(self._pause)
                self._pause = 0.0
            elif claimed == self.config.batch:
                await asyncio.sleep(0)
            elif claimed == 0 and 0 < early < EARLY_WAKE_STEPS:
                # Woken, but the queueing transaction has not committed yet (it is woken from inside it): look
                # again shortly rather than a whole poll later. (Or another instance took the results: harmless.)
                early += 1
                await self._sleep(self.config.gather_seconds)
            elif await self._woken(self.config.poll_seconds):
                early = 1
                await self._sleep(self.config.gather_seconds)
            else:
                early = 0

    async def step(self) -> int:
        """Verify one batch of due results; how many it claimed (a full batch: more may be due)."""
        runtime, config = self.runtime, self.config
        async with runtime.pool.acquire() as conn, conn.transaction():
            now = runtime.clock.now()
            due = await waiting.claim_due(conn, now, config.batch)
            if not due:
                return 0
            try:
                trades = await self.processor.trades(sorted({w.order for w in due}))
            except ProcessorUnavailable as exc:
                await self._postpone(conn, due, exc, now)
                return len(due)
            if self._unavailable:
                log.info("the payment processor answers again")
                self._unavailable = False
                self._outage.reset()
            await outbox.append(conn, runtime.schema, await self._decide(conn, due, trades, now))
        return len(due)

    async def _postpone(
        self, conn: asyncpg.Connection, due: list[WaitingResult], problem: ProcessorUnavailable, now: datetime
    ) -> None:
        self._pause, self._unavailable = self._outage.next(), True
        log.warning(
            "the payment processor cannot be asked (%s): %d payment results wait; asking again in %.1f s",
            problem,
            len(due),
            self._pause,
        )
        until = now + timedelta(seconds=self._pause)
        await waiting.postpone(conn, [w.message_id for w in due], until, f"processor unavailable: {problem}"[:500])

    async def _decide(
        self, conn: asyncpg.Connection, due: list[WaitingResult], trades: list[ProcessorTrade], now: datetime
    ) -> list[Outgoing]:
        """Each result's verdict, its outcome stored; the events in arrival order."""
        answer = trades_by_order(trades)
        events: dict[uuid.UUID, list[Outgoing]] = {}
        retries: list[tuple[uuid.UUID, datetime, str]] = []
        refusals: list[payments.Refusal] = []
        vouched: list[WaitingResult] = []
        for w in due:
            verdict = verify(w.payment, answer, w.arrived_at, w.attempts, now, self.config.policy)
            if isinstance(verdict, Retry):
                retries.append((w.message_id, verdict.at, verdict.note))
            elif isinstance(verdict, Reject):
                log.warning("payment result %s rejected (%s): %s", w.message_id, verdict.reason, verdict.message)
                refusals.append(payments.Refusal(w.fields, verdict.reason, verdict.message))
                events[w.message_id] = [
                    outbound.rejected(w.fields, verdict.reason, verdict.message, w.message_id, w.arrived_at, now),
                    outbound.alert(w.payment, verdict.reason, verdict.severity, verdict.message, w.message_id, now),
                ]
            else:
                assert isinstance(verdict, Confirm)
                vouched.append(w)
        for message_id, event in (await record_vouched(conn, vouched, now)).items():
            events[message_id] = [event]
        await payments.add_rejections(conn, refusals, now)
        await waiting.ask_again(conn, retries)
        decided = {w.message_id for w in vouched} | {w.message_id for w in due if w.message_id in events}
        await waiting.remove(conn, sorted(decided))
        return [event for w in due for event in events.get(w.message_id, [])]

    async def _sleep(self, seconds: float) -> None:
        """Sleep, unless the service stops first."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.runtime.stopping.wait(), seconds)

    async def _woken(self, seconds: float) -> bool:
        """Wait up to `seconds` for a wake (or the service stopping); True if woken."""
        waits = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(self.runtime.stopping.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        return self.wake.is_set()


async def record_vouched(
    conn: asyncpg.Connection, vouched: list[WaitingResult], now: datetime
) -> dict[uuid.UUID, Outgoing]:
    """Store the payments the processor vouched for, in arrival order: an order's first stands, the same trade
    again changes nothing, another trade is a duplicate of the standing one. The PaymentConfirmed of each stored."""
    events: dict[uuid.UUID, Outgoing] = {}
    unplaced = vouched
    for _ in range(MAX_PLACING_PASSES):
        if not unplaced:
            return events
        known = await payments.order_payments(conn, sorted({w.order for w in unplaced}))
        placed = place_all([(w, w.order, w.payment.trade_no) for w in unplaced], known)
        firsts = [w for w, where in placed if isinstance(where, First)]
        stored = await payments.add_first_payments(conn, [(w.payment, w.fields) for w in firsts], now)
        # Orders another verifier paid meanwhile: placed again, behind its payment, in the next pass.
        lost = {w.order for w in firsts} - stored
        duplicates = [
            (w, w.payment.model_copy(update={"duplicate_of": where.of}))
            for w, where in placed
            if isinstance(where, Duplicate) and w.order not in lost
        ]
        recorded = await payments.add_duplicates(conn, [(p, w.fields) for w, p in duplicates], now)
        for w in firsts:
            if w.order in stored:
                events[w.message_id] = outbound.confirmed(w.payment, w.message_id, now)
        for w, payment in duplicates:
            if (payment.merchant_id, payment.merchant_trade_no, payment.trade_no) in recorded:
                events[w.message_id] = outbound.confirmed(payment, w.message_id, now)
        unplaced = [w for w in unplaced if w.order in lost]
        if unplaced:
            log.info("%d orders were paid by another verifier meanwhile: placing their payments again", len(lost))
    if unplaced:
        raise RuntimeError(f"{len(unplaced)} verified payments could not be placed among their orders' payments")
    return events
