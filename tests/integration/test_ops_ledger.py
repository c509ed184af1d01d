"""The ops app's money figures agree with the escrow ledger settlement stored, and with the audit replay (the pure
ledger of the same events), for a generated history of several merchants."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings
from tests.integration import test_ops_app
from tests.integration.test_ops_app import OpsProcess
from tests.support.processes import ServiceProcess
from tests.support.settlement import core_ledger, publish, random_history, settled, synthetic_merchant

KINDS = ("bank_cash", "escrow_held", "suspense", "merchant_payable", "merchant_fee_income", "consumer_refund_payable")


ops = test_ops_app.ops  # the session's ops app (a fixture)


@pytest.fixture
async def settlement(topics: Settings) -> AsyncIterator[ServiceProcess]:
    env = {
        "KAFKA_BOOTSTRAP": topics.kafka_bootstrap,
        "DATABASE_URL": topics.database_url,
        "SETTLEMENT_AUTOMATIC_PAYOUTS": "0",
        "SETTLEMENT_POLL_SECONDS": "0.2",
    }
    process = ServiceProcess("escrow_settlement", Path(tempfile.mkdtemp(prefix="ops-ledger-")), env)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


def by_kind(balances: dict[str, int]) -> dict[str, int]:
    """Natural balances per account kind ("kind:owner" -> amount summed over owners)."""
    totals = dict.fromkeys(KINDS, 0)
    for account, amount in balances.items():
        kind = account.split(":", 1)[0]
        totals[kind] = totals.get(kind, 0) + amount
    return totals


def ops_by_kind(counters: dict[str, int]) -> dict[str, int]:
    kinds = set(KINDS) | {name.split(".")[1] for name in counters if name.startswith("ledger.")}
    return {k: counters.get(f"ledger.{k}.in", 0) - counters.get(f"ledger.{k}.out", 0) for k in kinds}


async def test_the_ops_figures_equal_the_stored_ledger_and_the_audit_replay(
    settlement: ServiceProcess,
    ops: OpsProcess,
    merchant: MerchantClient,
    db: asyncpg.Pool,
) -> None:
    histories = [random_history(synthetic_merchant(), datetime.now(UTC), 12, seed) for seed in range(3)]
    await publish(merchant.producer, [e for h in histories for e in h.events])
    for h in histories:
        replayed_entries, replayed = core_ledger(h.events)
        entries, stored = await settled(db, [h.merchant_id], replayed_entries, seconds=60)
        assert entries.keys() == replayed_entries.keys()
        body = await ops.until(f"/api/merchants/{h.merchant_id}", holding(len(entries)))
        expected = by_kind(stored)
        assert by_kind(replayed) == expected
        figures = ops_by_kind(body["counters"])
        assert {kind: figures.get(kind, 0) for kind in expected} == expected
        assert all(amount == 0 for kind, amount in figures.items() if kind not in expected)
        assert body["headline"]["escrow_held"] == expected["escrow_held"]


def holding(entries: int) -> Callable[[Any], bool]:
    """The merchant's view once it counts at least `entries` journal entries."""
    return lambda body: bool(body["counters"].get("ledger_entries", 0) >= entries)
