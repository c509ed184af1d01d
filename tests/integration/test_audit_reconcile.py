"""Reconciliation against the running services' databases: a fresh merchant's orders, write-off and refund verify
and reconcile clean; a changed ticket status, a changed ledger balance, a missing and an extra ticket row are each
reported with their keys (and put back afterwards, for the other tests)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from services.audit.reconcile import platform_accounts
from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Tap
from shared.settings import Settings
from tests.support.merchants import PICKUP, PICKUP_FACE, fresh_merchant
from tests.support.orders import issue_tickets
from tests.support.pos import Pos
from tests.support.processes import ROOT, Platform

CHAINS = ("payment_confirmation", "issuance", "redemption", "escrow_settlement")


def reconcile(merchant_id: str, since: datetime, out: Path, workers: int = 1) -> tuple[int, dict[str, Any]]:
    chains = [arg for name in CHAINS for arg in ("--chain", name)]
    done = subprocess.run(
        [sys.executable, "-m", "services.audit", "verify", "--reconcile", "--trust-local-key", "--quiet",
         "--merchant", merchant_id, "--since", since.isoformat(), "--json", str(out), "--workers", str(workers),
         *chains],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(out.read_text())


async def settled(db: asyncpg.Pool, merchant_id: str, entries: int) -> None:
    """Wait until settlement has recorded `entries` journal entries of the merchant (its events are then out)."""
    for _ in range(300):
        count = await db.fetchval("SELECT count(*) FROM escrow_settlement.journal_entries WHERE merchant_id = $1",
                                  merchant_id)  # fmt: skip
        if count >= entries:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"settlement recorded {count} entries of {merchant_id}, expected {entries}")


async def test_the_services_databases_reconcile_with_the_log_and_each_drift_is_reported_with_its_keys(
    platform: Platform, topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool, tmp_path: Path
) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    m = await fresh_merchant(topics)
    first, second = await issue_tickets(merchant, tap, m, PICKUP, 2, face=PICKUP_FACE)
    pos = Pos(merchant, tap, m)
    assert (await pos.write_off(first["write_off_no"]))["RtnCode"] == 1
    assert (await pos.refund(ticket_no=second["ticket_no"]))["RtnCode"] == 1
    await settled(db, m, 3)  # the payment, the write-off's release, the refund

    code, report = reconcile(m, since, tmp_path / "clean.json")
    assert code == 0, report["finding_counts"]
    assert report["tickets"]["decisions_rederived"] == 2

    payable = await db.fetchrow("SELECT kind, owner FROM escrow_settlement.accounts WHERE owner = $1 AND balance <> 0"
                                " ORDER BY kind LIMIT 1", m)  # fmt: skip
    row = dict(await db.fetchrow("SELECT * FROM redemption.tickets WHERE ticket_no = $1", second["ticket_no"]))
    extra = {**row, "ticket_no": "AUDITEXTRA" + m, "write_off_hash": "AUDITEXTRAW" + m}
    columns = ", ".join(row)
    values = ", ".join(f"${n}" for n in range(1, len(row) + 1))
    try:
        await db.execute("UPDATE redemption.tickets SET status = 1, written_off_at = NULL WHERE ticket_no = $1",
                         first["ticket_no"])  # fmt: skip
        await db.execute("UPDATE escrow_settlement.accounts SET balance = balance + 1 WHERE kind = $1 AND owner = $2",
                         payable["kind"], payable["owner"])  # fmt: skip
        await db.execute("DELETE FROM redemption.tickets WHERE ticket_no = $1", second["ticket_no"])
        await db.execute(f"INSERT INTO redemption.tickets ({columns}) VALUES ({values})", *extra.values())

        # Two workers as well: the one whose share the merchant is compares its rows (Python and SQL agree on
        # the share), the other compares none.
        for workers in (1, 2):
            code, report = reconcile(m, since, tmp_path / f"drift-{workers}.json", workers)
            found = {(f["kind"], f["where"]) for f in report["findings"]}
            assert code == 1 and report["finding_counts"] == {"reconcile.differs": 2, "reconcile.missing_row": 1,
                                                              "reconcile.extra_row": 1}, workers  # fmt: skip
            assert found == {
                ("differs", f"redemption.tickets ticket_no={first['ticket_no']}"),
                ("differs", f"escrow_settlement.accounts account={payable['kind']}:{payable['owner']}"),
                ("missing_row", f"redemption.tickets ticket_no={second['ticket_no']}"),
                ("extra_row", f"redemption.tickets ticket_no={extra['ticket_no']}"),
            }, workers
    finally:
        await db.execute("DELETE FROM redemption.tickets WHERE ticket_no = $1", extra["ticket_no"])
        await db.execute(f"INSERT INTO redemption.tickets ({columns}) VALUES ({values}) ON CONFLICT DO NOTHING",
                         *row.values())  # fmt: skip
        await db.execute("UPDATE escrow_settlement.accounts SET balance = balance - 1 WHERE kind = $1 AND owner = $2",
                         payable["kind"], payable["owner"])  # fmt: skip
        await db.execute("UPDATE redemption.tickets SET status = 2, written_off_at = now() WHERE ticket_no = $1",
                         first["ticket_no"])  # fmt: skip


async def test_the_platforms_own_accounts_are_compared_with_the_balances_the_workers_summed(
    topics: Settings, db: asyncpg.Pool
) -> None:
    """`verify --workers N --reconcile` over every merchant: the parent compares the accounts of no merchant (the
    bank's, the platform's fees) with the workers' summed balances; a merchant's account is its worker's to compare."""
    schema = f"platform_accounts_{uuid.uuid4().hex[:8]}"
    await db.execute(f"CREATE SCHEMA {schema}")
    try:
        await db.execute(f"CREATE TABLE {schema}.accounts (kind text, owner text, balance bigint, merchant_id text)")
        await db.execute(f"INSERT INTO {schema}.accounts VALUES ('bank_cash', 'bank', 900, NULL),"
                         " ('fee_income', 'platform', 100, NULL), ('payable', '3000001', 50, '3000001')")  # fmt: skip
        summed = {"bank_cash:bank": 900, "fee_income:platform": 90, "clearing:bank": 7}
        found = await platform_accounts(topics.database_url, summed, {"settlement": schema})
        assert sorted((f.kind, f.where, f.detail) for f in found) == [
            ("differs", f"{schema}.accounts account=fee_income:platform", "database (100,), log (90,)"),
            ("missing_row", f"{schema}.accounts account=clearing:bank", "log (7,), no row"),
        ]
    finally:
        await db.execute(f"DROP SCHEMA {schema} CASCADE")
