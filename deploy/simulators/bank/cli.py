"""`python -m deploy.simulators.bank.cli bank-rule ...`: tell the sandbox bank how to answer.

bank-rule --subject S (--reject [--times N] [--reason R] | --delay SECONDS | --clear)
    S is an order key merchant/trade-no, a merchant id, or *; the most specific rule wins
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from deploy.simulators.bank import simulated
from deploy.simulators.bank.gateway import SCHEMA
from shared.settings import Settings


async def bank_rule(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    conn = await asyncpg.connect(settings.database_url, server_settings={"search_path": SCHEMA})
    try:
        if args.clear:
            await simulated.clear_rule(conn, args.subject)
        else:
            action = "reject" if args.reject else "delay"
            await simulated.set_rule(
                conn, args.subject, action, reason=args.reason, delay_seconds=args.delay or 0, times=args.times
            )
    finally:
        await conn.close()
    print(f"bank rule for {args.subject} {'cleared' if args.clear else 'set'}")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m deploy.simulators.bank.cli",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = root.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bank-rule")
    b.add_argument("--subject", required=True, help="order key merchant/trade-no, merchant id, or *")
    b.add_argument("--reject", action="store_true")
    b.add_argument("--times", type=int, help="reject this many times (default: always)")
    b.add_argument("--reason", default="account closed")
    b.add_argument("--delay", type=float, help="answer after this many seconds")
    b.add_argument("--clear", action="store_true")
    return root


if __name__ == "__main__":
    sys.exit(asyncio.run(bank_rule(parser().parse_args())))
