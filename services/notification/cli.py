"""`python -m services.notification.cli <command>`: operate the merchants' notifications (docs/notifications.md).

failures [--merchant-id M] [--limit N]     notifications not delivered: refused (a forbidden or missing target),
                                           given up (failed), or still being retried; one per line
redeliver <notification-id>                send it again now (also a delivered one), with a new retry window
redeliver --all [--merchant-id M]          every notification not delivered, again now
log --merchant-id M [--limit N]            the merchant's delivery log, newest attempt first
show <notification-id>                     every attempt of one notification

Exit status: 0; 1 when `failures` lists any or `redeliver <id>` finds no such notification; 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import uuid
from datetime import UTC, datetime

import asyncpg

from services.notification.app import SCHEMA
from services.notification.store import log, operations
from shared.infra.database import create_pool
from shared.settings import Settings


async def run(args: argparse.Namespace, pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        if args.command == "failures":
            found = await operations.failures(conn, args.merchant_id, args.limit)
            for f in found:
                retry = f" next {f.next_attempt_at.isoformat()}" if f.next_attempt_at else ""
                print(
                    f"{f.notification_id} {f.merchant_id} {f.kind} {f.status} attempts={f.attempts}{retry}: {f.last_error}"
                )
            print(f"{len(found)} notification(s) not delivered")
            return 1 if found else 0
        if args.command == "redeliver":
            now = datetime.now(UTC)
            if args.all:
                count = await operations.redeliver_all(conn, args.merchant_id, now)
                print(f"{count} notification(s) due again now")
                return 0
            if not await operations.redeliver(conn, args.notification_id, now):
                print(f"no notification {args.notification_id}")
                return 1
            print(f"{args.notification_id} due again now")
            return 0
        attempts = (
            await log.of_merchant(conn, args.merchant_id, args.limit)
            if args.command == "log"
            else await log.of_notification(conn, args.notification_id)
        )
        for a in attempts:
            status = a.http_status if a.http_status is not None else "-"
            print(f"{a.at.isoformat()} {a.notification_id} #{a.attempt} {a.outcome} http={status} {a.duration_ms}ms "
                  f"{a.url or '-'}: {a.detail}")  # fmt: skip
        return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.notification.cli", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    commands = p.add_subparsers(dest="command", required=True)
    failures = commands.add_parser("failures", help="notifications not delivered")
    failures.add_argument("--merchant-id")
    failures.add_argument("--limit", type=int, default=200)
    redeliver = commands.add_parser("redeliver", help="send again now")
    redeliver.add_argument("notification_id", nargs="?", type=uuid.UUID)
    redeliver.add_argument("--all", action="store_true")
    redeliver.add_argument("--merchant-id")
    merchant_log = commands.add_parser("log", help="a merchant's delivery log")
    merchant_log.add_argument("--merchant-id", required=True)
    merchant_log.add_argument("--limit", type=int, default=50)
    show = commands.add_parser("show", help="the attempts of one notification")
    show.add_argument("notification_id", type=uuid.UUID)
    return p


async def main(argv: list[str]) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.command == "redeliver" and (args.all == (args.notification_id is not None)):
        p.error("redeliver takes a notification id or --all, not both")
    pool = await create_pool(Settings.from_env().database_url, SCHEMA, min_size=1, max_size=1)
    try:
        return await run(args, pool)
    finally:
        await pool.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
