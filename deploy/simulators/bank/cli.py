"""`python -m deploy.simulators.bank.cli <command>`: tell the sandbox bank how to answer, and drive its statement.

bank-rule --subject S (--reject [--times N] [--reason R] | --delay SECONDS | --clear)
    how the bank answers transfers; S is an order key merchant/trade-no, a merchant id, or *; the most specific wins
statement-rule --subject S (--omit | --amount N) [--times N]
    the bank's statement leaves out the credit of the subject's next captured trade(s) (the money never arrived),
    or books NT$N instead of the trade's amount; S as above; --times: that many trades (default: every one)
statement-rule --subject S --clear
statement-rule --extra-credit N [--merchant-id M] [--merchant-trade-no T]
    book at once a credit of NT$N that nobody paid through the processor (prints its TradeNo)
close-statement --date YYYY-MM-DD
    read that day's reconciliation file once more and close the day's statement now (BankStatementClosed); later
    movements of that day go onto the next open day. Today may be closed early; a future day may not.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, date, datetime

import asyncpg

from deploy.simulators.bank import simulated, statement, statement_rules
from deploy.simulators.bank.app import statement_grace
from deploy.simulators.bank.names import SCHEMA
from deploy.simulators.bank.processor_feed import ProcessorFeed
from shared.clock import SystemClock, business_date
from shared.ecticket.processor_query import processor_url
from shared.infra import outbox
from shared.infra.database import create_pool
from shared.settings import Settings


async def bank_rule(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    if args.clear:
        await simulated.clear_rule(conn, args.subject)
    else:
        action = "reject" if args.reject else "delay"
        await simulated.set_rule(
            conn, args.subject, action, reason=args.reason, delay_seconds=args.delay or 0, times=args.times
        )
    print(f"bank rule for {args.subject} {'cleared' if args.clear else 'set'}")
    return 0


async def statement_rule(conn: asyncpg.Connection, args: argparse.Namespace) -> int:
    if args.extra_credit is not None:
        now = datetime.now(UTC)
        async with conn.transaction():
            trade_no, events = await statement_rules.extra_credit(
                conn, args.extra_credit, args.merchant_id, args.merchant_trade_no, business_date(now), now
            )
            await outbox.append(conn, SCHEMA, events)
        print(f"extra credit of NT${args.extra_credit} booked as TradeNo {trade_no}")
        return 0
    if args.subject is None or not (args.clear or args.omit or args.amount):
        print("statement-rule needs --extra-credit, or --subject with --omit, --amount or --clear", file=sys.stderr)
        return 2
    if args.clear:
        await statement_rules.clear_rule(conn, args.subject)
    else:
        action = statement_rules.OMIT if args.omit else statement_rules.AMOUNT
        await statement_rules.set_rule(conn, args.subject, action, args.amount, args.times)
    print(f"statement rule for {args.subject} {'cleared' if args.clear else 'set'}")
    return 0


async def close_statement(pool: asyncpg.Pool, day: date) -> int:
    now = datetime.now(UTC)
    if day > business_date(now):
        print(f"refused: {day} has not begun (Asia/Taipei)", file=sys.stderr)
        return 2
    feed = ProcessorFeed(pool, SystemClock(), processor_url(), statement_grace())
    try:
        if not await feed.read(day, now):
            print(f"refused: the processor's reconciliation file for {day} cannot be read", file=sys.stderr)
            return 1
    finally:
        await feed.close()
    async with pool.acquire() as conn, conn.transaction():
        closed = await statement.close(conn, day, now)
        await outbox.append(conn, SCHEMA, [closed] if closed else [])
        row = await conn.fetchrow("SELECT * FROM statement_days WHERE statement_date = $1", day)
    state = "closed" if closed else "was closed already"
    print(f"statement {day} {state}: {row['lines']} line(s), credits NT${row['credits_total']},"
          f" debits NT${row['debits_total']}")  # fmt: skip
    return 0


async def run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    pool = await create_pool(settings.database_url, SCHEMA, min_size=1, max_size=2)
    try:
        if args.command == "close-statement":
            return await close_statement(pool, date.fromisoformat(args.date))
        async with pool.acquire() as conn:
            if args.command == "bank-rule":
                return await bank_rule(conn, args)
            return await statement_rule(conn, args)
    finally:
        await pool.close()


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
    s = sub.add_parser("statement-rule")
    s.add_argument("--subject", help="order key merchant/MerchantTradeNo, merchant id, or *")
    what = s.add_mutually_exclusive_group()
    what.add_argument("--omit", action="store_true", help="leave the credit out of the statement")
    what.add_argument("--amount", type=_positive, help="book this amount instead of the trade's")
    what.add_argument("--clear", action="store_true")
    what.add_argument("--extra-credit", type=_positive, help="book a credit of this amount nobody paid, now")
    s.add_argument("--times", type=int, help="for this many trades (default: every one)")
    s.add_argument("--merchant-id", help="whom the extra credit names")
    s.add_argument("--merchant-trade-no", help="the order the extra credit names")
    c = sub.add_parser("close-statement")
    c.add_argument("--date", required=True, help="statement day, Asia/Taipei (YYYY-MM-DD)")
    return root


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive whole NT$ amount")
    return value


if __name__ == "__main__":
    sys.exit(asyncio.run(run(parser().parse_args())))
