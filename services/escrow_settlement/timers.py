"""The service's periodic work: payout runs (each ended business day, and operator requests) and the sweep that
raises orders still waiting for a fact after `overdue_after`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from services.escrow_settlement import overdue, payout_store
from services.escrow_settlement.config import SettlementConfig
from services.escrow_settlement.ledger.payouts import settlement_day
from services.escrow_settlement.payout_run import PayoutRun
from shared.infra.service import Runtime

log = logging.getLogger(__name__)


def day_to_settle(now: datetime, cutoff: time, latest: date | None) -> date | None:
    """The last ended business day, if the timer has not requested its run yet (earlier missed days need no run
    of their own: a run pays everything due as of its day)."""
    ended = settlement_day(now, cutoff) - timedelta(days=1)
    return ended if latest is None or latest < ended else None


@dataclass
class SettlementTimers:
    runtime: Runtime
    config: SettlementConfig
    payouts: PayoutRun

    async def payout_step(self) -> bool:
        """Request the daily run when due; carry out the oldest open run. True if a run was done."""
        pool, now = self.runtime.pool, self.runtime.clock.now()
        async with pool.acquire() as conn:
            if self.config.automatic_payouts:
                due = day_to_settle(now, self.config.cutoff, await payout_store.latest_run_day(conn))
                if due is not None:
                    await payout_store.request_daily_run(conn, due, now)
            open_run = await payout_store.next_open_run(conn)
        if open_run is None:
            return False
        run_id, day, merchants = open_run
        summary = await self.payouts.run(day, merchants)
        async with pool.acquire() as conn:
            await payout_store.finish_run(conn, run_id, summary, self.runtime.clock.now())
        log.info("payout run %s for %s: %s", run_id, day, summary)
        return True

    async def overdue_step(self) -> bool:
        return await overdue.sweep(self.runtime.pool, self.runtime.schema, self.runtime.clock.now(),
                                   self.config.overdue_after)  # fmt: skip
