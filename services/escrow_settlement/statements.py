"""`python -m services.escrow_settlement.statements --merchant-id X --date YYYY-MM-DD --format csv|json`:
a merchant's statement for one business day (see statement.py for what it shows)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date

import asyncpg

from services.escrow_settlement.statement import ACCOUNTS, Statement, as_csv, as_json, build
from shared.settings import Settings


async def statement_of(conn: asyncpg.Connection, merchant_id: str, day: date) -> Statement:
    kinds = [k.value for k in ACCOUNTS]
    opening = await conn.fetch(
        "SELECT kind, sum(amount) AS amount FROM postings"
        " WHERE owner = $1 AND kind = ANY($2::text[]) AND business_date < $3 GROUP BY kind",
        merchant_id,
        kinds,
        day,
    )
    rows = await conn.fetch(
        """
        SELECT e.entry_id, e.cause_id, e.kind AS entry_kind, p.kind AS account, p.amount,
               split_part(e.order_key, '/', 2) AS ticket_trade_no, e.ticket_no
        FROM postings p JOIN journal_entries e ON e.entry_id = p.entry_id
        WHERE p.owner = $1 AND p.kind = ANY($2::text[]) AND p.business_date = $3
        ORDER BY e.seq, p.line
        """,
        merchant_id,
        kinds,
        day,
    )
    movements = [{**dict(r), "ticket_trade_no": r["ticket_trade_no"] or None} for r in rows]
    return build(merchant_id, day, {r["kind"]: r["amount"] for r in opening}, movements)


async def main(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(Settings.from_env().database_url, server_settings={"search_path": "escrow_settlement"})
    try:
        statement = await statement_of(conn, args.merchant_id, date.fromisoformat(args.date))
    finally:
        await conn.close()
    sys.stdout.write(as_csv(statement) if args.format == "csv" else as_json(statement) + "\n")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m services.escrow_settlement.statements", description=__doc__)
    p.add_argument("--merchant-id", required=True)
    p.add_argument("--date", required=True, help="business day, Asia/Taipei (YYYY-MM-DD)")
    p.add_argument("--format", choices=["csv", "json"], default="csv")
    return p


if __name__ == "__main__":
    asyncio.run(main(parser().parse_args()))
