"""Issuance's periodic step, registered in app.py: the payment-deadline sweep, which also gives up the payments no
Issue request claimed in time."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from services.issuance import store
from services.issuance.handlers import OrderDecider
from shared.infra import outbox
from shared.infra.service import Runtime

log = logging.getLogger(__name__)

SWEEP_SECONDS = 1.0
# Overdue orders failed per transaction: bounds the lock time; the sweep runs again at once while there are more.
SWEEP_BATCH = 200
# The sweep runs every SWEEP_SECONDS; a longer gap than this between two of its runs means issuance was down.
SWEEP_GAP_USUAL = timedelta(seconds=5)
# After such a gap, how long waiting orders get on top of it for the consumers to work off the backlog.
DOWNTIME_CATCH_UP = timedelta(seconds=30)


@dataclass(frozen=True)
class DeadlineSweep:
    runtime: Runtime
    orders: OrderDecider

    async def step(self) -> bool:
        """Fail paid orders whose payment did not arrive in time, and for good the orders of payments no Issue
        request claimed in time (settlement refunds those in full); True while more may be overdue.

        Time in which issuance could not run (its database down or restarting, no instance up) is not counted:
        a payment sent meanwhile sits in Kafka, and failing its order before the consumer has caught up would keep
        the money and issue nothing (likewise an Issue request sent meanwhile for a waiting payment). The sweep
        notices such a gap by its own last run, and gives the waiting orders and payments the gap back, plus
        DOWNTIME_CATCH_UP for the backlog to be consumed.

        One transaction, under the sweep clock's row lock: the rows it fails, the events in the outbox. Rows another
        instance has locked are skipped (a request attaching to an unclaimed payment meanwhile either wins the row
        and the payment is claimed, or waits and finds the order failed, and its reply says so).
        """
        runtime = self.runtime
        async with runtime.pool.acquire() as conn, conn.transaction():
            now = runtime.clock.now()
            credit = await store.credit_downtime(conn, now, SWEEP_GAP_USUAL, DOWNTIME_CATCH_UP)
            if credit:
                log.warning("payment deadlines of waiting orders moved on by %s: issuance could not run", credit)
            rows = await store.overdue_orders(conn, now, SWEEP_BATCH)
            unclaimed = await store.unclaimed_payments(conn, now, SWEEP_BATCH)
            events = await self.orders.decide(conn, rows, now) + await self.orders.give_up(conn, unclaimed, now)
            await outbox.append(conn, runtime.schema, events)
        return SWEEP_BATCH in (len(rows), len(unclaimed))
