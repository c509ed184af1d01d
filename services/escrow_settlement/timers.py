"""The service's periodic work: payout runs (each ended business day, and operator requests) and the sweep that
raises orders still waiting for a fact after `overdue_after`."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from services.escrow_settlement.config import SettlementConfig
from services.escrow_settlement.domain.payouts import day_to_settle
from services.escrow_settlement.handlers import overdue
from services.escrow_settlement.handlers.payout_run import PayoutRun
from services.escrow_settlement.store import payouts
from shared.infra.service import Runtime

log = logging.getLogger(__name__)


@dataclass
class SettlementTimers:
    runtime: Runtime
    config: SettlementConfig
    payout_run: PayoutRun

    async def payout_step(self) -> bool:
        """Request the daily run when due; carry out the oldest open run. True if a run was done."""
        pool, now = self.runtime.pool, self.runtime.clock.now()
        async with pool.acquire() as conn:
            if self.config.automatic_payouts:
                due = day_to_settle(now, self.config.cutoff, await payouts.latest_run_day(conn))
                if due is not None:
                    await payouts.request_daily_run(conn, due, now)
            open_run = await payouts.next_open_run(conn)
        if open_run is None:
            return False
        run_id, day, merchants = open_run
        summary = await self.payout_run.run(day, merchants)
        async with pool.acquire() as conn:
            await payouts.finish_run(conn, run_id, summary, self.runtime.clock.now())
        log.info("payout run %s for %s: %s", run_id, day, summary)
        return True

    async def overdue_step(self) -> bool:
        return await overdue.sweep(
            self.runtime.pool, self.runtime.schema, self.runtime.clock.now(), self.config.overdue_after
        )
