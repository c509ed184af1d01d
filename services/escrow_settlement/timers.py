"""The service's periodic work: payout runs (each ended business day, each ended day of a sandbox merchant's test
clock, and operator requests) and the sweep that raises orders still waiting for a fact after `overdue_after`."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.escrow_settlement.config import SettlementConfig
from services.escrow_settlement.domain.business_days import has_ended, sandbox_runs_due
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
        """Request the runs that are due; carry out the oldest open run. True if a run was done."""
        pool, now = self.runtime.pool, self.runtime.clock.now()
        async with pool.acquire() as conn:  # held for the whole run: it holds the run's claim
            if self.config.automatic_payouts:
                due = day_to_settle(now, self.config.cutoff, await payouts.latest_run_day(conn))
                if due is not None:
                    await payouts.request_daily_run(conn, due, now)
            if self.config.sandbox_payouts:
                await self._request_sandbox_runs(conn)
            open_run = await payouts.claim_open_run(conn)
            if open_run is None:
                return False
            run_id, day, wanted = open_run
            try:
                await self._carry_out(conn, run_id, day, wanted)
            finally:
                await payouts.release_run(conn, run_id)
        return True

    async def _carry_out(self, conn: asyncpg.Connection, run_id: int, day: date, wanted: list[str] | None) -> None:
        merchants, not_ended = await self._ended_for(conn, day, wanted)
        summary: dict[str, Any] = await self.payout_run.run(day, merchants)
        if not_ended:
            summary["not_ended"] = not_ended
            log.warning("payout run %s for %s: business day not ended yet for %s", run_id, day, not_ended)
        await payouts.finish_run(conn, run_id, summary, self.runtime.clock.now())
        log.info("payout run %s for %s: %s", run_id, day, summary)

    async def _ended_for(
        self, conn: asyncpg.Connection, day: date, wanted: list[str] | None
    ) -> tuple[list[str], list[str]]:
        """The merchants of a run for whom `day` has ended (on their own clock: a sandbox test clock may run ahead),
        and those for whom it has not: they are left out, never paid for a day that can still change."""
        merchants = wanted if wanted is not None else await payouts.merchants_with_accounts(conn)
        clock, cutoff = self.runtime.clock, self.config.cutoff
        ended = [m for m in merchants if has_ended(day, clock.now(m), cutoff)]
        return ended, [m for m in merchants if m not in ended]

    async def _request_sandbox_runs(self, conn: asyncpg.Connection) -> None:
        clocks = self.runtime.sandbox_clocks
        ahead = clocks.shifted() if clocks is not None else {}
        if not ahead:
            return
        now = self.runtime.clock.now()
        latest = await payouts.latest_sandbox_runs(conn, list(ahead))
        for merchant_id, day in sandbox_runs_due(now, self.config.cutoff, ahead, latest):
            await payouts.request_sandbox_run(conn, merchant_id, day, now)

    async def overdue_step(self) -> bool:
        return await overdue.sweep(
            self.runtime.pool, self.runtime.schema, self.runtime.clock.now(), self.config.overdue_after
        )
