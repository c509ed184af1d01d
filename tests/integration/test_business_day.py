"""A payout run never settles a business day that has not ended: asked for today, `cli payout-run` refuses and
requests nothing; asked for a merchant whose day has not ended on its own clock, the service leaves it out."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.clock import business_day
from shared.settings import Settings
from tests.support.merchants import fresh_merchant
from tests.support.processes import ROOT

pytestmark = pytest.mark.usefixtures("platform")
SETTLEMENT_CLI = "services.escrow_settlement.cli"


async def payout_run(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", SETTLEMENT_CLI, "payout-run", *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_a_payout_run_for_today_is_refused_and_nothing_is_requested(db: asyncpg.Pool) -> None:
    today = business_day(datetime.now(UTC))
    runs_before = await db.fetchval("SELECT count(*) FROM escrow_settlement.payout_runs")
    code, _, err = await payout_run("--date", today.isoformat())
    assert code == 2
    assert f"business day {today} has not ended" in err
    assert await db.fetchval("SELECT count(*) FROM escrow_settlement.payout_runs") == runs_before


async def test_a_merchant_whose_day_has_not_ended_is_left_out_of_its_run(topics: Settings) -> None:
    merchant_id = await fresh_merchant(topics)
    tomorrow = business_day(datetime.now(UTC)) + timedelta(days=1)
    code, out, err = await payout_run("--date", tomorrow.isoformat(), "--merchant-id", merchant_id)
    assert code == 2
    assert f"refused for {merchant_id}: business day {tomorrow} has not ended" in err
    assert json.loads(out)["not_ended"] == [merchant_id]
