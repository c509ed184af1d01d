"""`python -m services.escrow_settlement.cli <command>`: operate the ledger.

payout-run --date YYYY-MM-DD [--merchant-id M ...]   ask the service for a payout run and wait for its summary;
                                                    refused for a business day that has not ended (each merchant's
                                                    own day: a sandbox test clock may run ahead)
check                                               every invariant over the whole ledger (violations quarantine),
                                                    and every dead letter of any service that touches money
release --subject KEY                               lift a quarantine and post the facts that waited behind it
statement --merchant-id M --date YYYY-MM-DD [--format csv|json]
                                                    a merchant's statement for one business day (domain/statement.py)
reconciliation list [--merchant-id M] [--date D] [--all]
                                                    the bank reconciliation's items not matched (--all: every one)
reconciliation day --date YYYY-MM-DD                a statement day: the bank's closing, matched, differences
reconciliation resolve --item LINE-ID --note TEXT   record an operator's decision on an item not matched (its money
                                                    is no longer held back)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime

import asyncpg

from services.escrow_settlement.app import SCHEMA, SPEC
from services.escrow_settlement.config import SettlementConfig
from services.escrow_settlement.domain import reconciliation as recon_domain
from services.escrow_settlement.domain.business_days import has_ended
from services.escrow_settlement.domain.statement import as_csv, as_json
from services.escrow_settlement.handlers import audit
from services.escrow_settlement.handlers import reconciliation as recon_handler
from services.escrow_settlement.handlers.ledger import Ledger
from services.escrow_settlement.store import journal, payouts, unapplied
from services.escrow_settlement.store import reconciliation as recon_store
from shared.clock import SystemClock
from shared.infra import outbox
from shared.infra.database import create_pool
from shared.settings import Settings


async def payout_run(
    pool: asyncpg.Pool, day: date, merchants: list[str] | None, wait_seconds: float = 300
) -> dict[str, object]:
    """Request a run from the service (which does it, so a crash mid-run is resumed by the service itself)."""
    async with pool.acquire() as conn:
        run_id = await payouts.request_run(conn, day, "admin", datetime.now(UTC), merchants)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_seconds
    while loop.time() < deadline:
        async with pool.acquire() as conn:
            summary = await payouts.run_summary(conn, run_id)
        if summary is not None:
            return summary
        await asyncio.sleep(0.1)
    raise TimeoutError(f"payout run {run_id} not finished after {wait_seconds}s: is the settlement service running?")


async def check(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):  # one snapshot
        found = await audit.check(conn, SCHEMA, SPEC.migrations, datetime.now(UTC))
        found += await unapplied.open_violations(conn)
    for v in found:
        print(f"VIOLATION {v.rule} {v.subject}: {v.detail}")
    print(f"{len(found)} violation(s)")
    return 1 if found else 0


async def release(pool: asyncpg.Pool, subject: str) -> int | None:
    """Post the waiting facts again (a still-failing subject is quarantined again); None if not quarantined."""
    ledger = Ledger(SystemClock(), SettlementConfig.from_env().cutoff)
    async with pool.acquire() as conn, conn.transaction():
        released = await ledger.release(conn, subject)
        if released is None:
            return None
        events, count = released
        await outbox.append(conn, SCHEMA, events)
    return count


async def reconciliation(pool: asyncpg.Pool, args: argparse.Namespace) -> int:
    """Bank reconciliation for operations (domain/reconciliation.py); `list` exits 1 while differences are open."""
    async with pool.acquire() as conn:
        if args.action == "day":
            print(json.dumps(await recon_store.day_summary(conn, date.fromisoformat(args.date)), indent=2))
            return 0
        if args.action == "resolve":
            async with conn.transaction():
                events = await recon_handler.resolve(conn, args.item, args.note, datetime.now(UTC))
                await outbox.append(conn, SCHEMA, events or [])
            print(f"{args.item}: {'resolved' if events is not None else 'nothing unmatched to resolve'}")
            return 0 if events is not None else 1
        day = None if args.date is None else date.fromisoformat(args.date)
        listed = await recon_store.listing(conn, args.merchant_id, day, args.all)
    for row in listed:
        print(recon_domain.describe(row.item) + (f" [resolved: {row.resolved_note}]" if row.item.resolved else ""))
    open_differences = [r for r in listed if r.item.status in recon_domain.DIFFERENCES and not r.item.resolved]
    print(f"{len(open_differences)} difference(s), {len(listed)} item(s) listed")
    return 1 if open_differences else 0


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    pool = await create_pool(settings.database_url, SCHEMA, min_size=1, max_size=2)
    try:
        if args.command == "payout-run":
            day = date.fromisoformat(args.date)
            cutoff = SettlementConfig.from_env().cutoff
            if args.merchant_id is None and not has_ended(day, datetime.now(UTC), cutoff):
                print(
                    f"refused: business day {day} has not ended (cut-off {cutoff:%H:%M} Asia/Taipei)", file=sys.stderr
                )
                return 2
            summary = await payout_run(pool, day, args.merchant_id)
            print(json.dumps(summary, indent=2))
            not_ended = summary.get("not_ended")
            if isinstance(not_ended, list) and not_ended:
                refused = ", ".join(map(str, not_ended))
                print(f"refused for {refused}: business day {day} has not ended", file=sys.stderr)
                return 2
        elif args.command == "check":
            return await check(pool)
        elif args.command == "reconciliation":
            return await reconciliation(pool, args)
        elif args.command == "release":
            count = await release(pool, args.subject)
            print(f"{args.subject}: not quarantined" if count is None else f"{args.subject}: {count} fact(s) posted")
        else:
            async with pool.acquire() as conn:
                statement = await journal.statement_of(conn, args.merchant_id, date.fromisoformat(args.date))
            sys.stdout.write(as_csv(statement) if args.format == "csv" else as_json(statement) + "\n")
        return 0
    finally:
        await pool.close()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m services.escrow_settlement.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = root.add_subparsers(dest="command", required=True)
    p = sub.add_parser("payout-run")
    p.add_argument("--date", required=True)
    p.add_argument("--merchant-id", action="append")
    sub.add_parser("check")
    r = sub.add_parser("release")
    r.add_argument("--subject", required=True)
    s = sub.add_parser("statement")
    s.add_argument("--merchant-id", required=True)
    s.add_argument("--date", required=True, help="business day, Asia/Taipei (YYYY-MM-DD)")
    s.add_argument("--format", choices=["csv", "json"], default="csv")
    recon = sub.add_parser("reconciliation").add_subparsers(dest="action", required=True)
    listing = recon.add_parser("list")
    listing.add_argument("--merchant-id")
    listing.add_argument("--date", help="statement day, Asia/Taipei (YYYY-MM-DD)")
    listing.add_argument("--all", action="store_true", help="matched and resolved items too")
    recon.add_parser("day").add_argument("--date", required=True, help="statement day, Asia/Taipei (YYYY-MM-DD)")
    resolving = recon.add_parser("resolve")
    resolving.add_argument("--item", required=True, help="the bank line id, e.g. credit/<TradeNo>")
    resolving.add_argument("--note", required=True, help="what was decided, and why")
    return root


if __name__ == "__main__":
    sys.exit(asyncio.run(run(parser().parse_args())))
