"""Sandbox control of the bank's statement (`cli statement-rule`), so tests and merchants can see reconciliation
catch a bank that disagrees with the ledger.

A rule for a subject (an order key merchant/MerchantTradeNo, a merchant id, or `*`; the most specific wins) makes
the bank omit the credit of a captured trade (the money never arrived) or book another amount, `remaining` times
or always. An extra credit nobody paid is booked at once (`extra_credit`), under a TradeNo no processor issued.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

import asyncpg

from deploy.simulators.bank.statement import Movement, book
from shared.contracts.bank import StatementDirection, credit_line_id
from shared.contracts.common import order_key
from shared.contracts.events import Outgoing

OMIT = "omit"
AMOUNT = "amount"


async def booked_amount(conn: asyncpg.Connection, merchant_id: str, merchant_trade_no: str, amount: int) -> int | None:
    """What the bank books for a captured trade: its amount, unless a rule says another amount or none (omit).
    A counted rule is used up once per trade (the caller books each trade once, in the same transaction)."""
    rule = await conn.fetchrow(
        "SELECT subject, action, amount FROM statement_rules"
        " WHERE subject = ANY($1::text[]) AND (remaining IS NULL OR remaining > 0)"
        " ORDER BY array_position($1::text[], subject) LIMIT 1 FOR UPDATE",
        [order_key(merchant_id, merchant_trade_no), merchant_id, "*"],
    )
    if rule is None:
        return amount
    await conn.execute(
        "UPDATE statement_rules SET remaining = remaining - 1 WHERE subject = $1 AND remaining IS NOT NULL",
        rule["subject"],
    )
    return None if rule["action"] == OMIT else int(rule["amount"])


async def set_rule(
    conn: asyncpg.Connection, subject: str, action: str, amount: int | None = None, times: int | None = None
) -> None:
    await conn.execute(
        "INSERT INTO statement_rules (subject, action, amount, remaining) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (subject) DO UPDATE SET action = $2, amount = $3, remaining = $4",
        subject,
        action,
        amount,
        times,
    )


async def clear_rule(conn: asyncpg.Connection, subject: str) -> None:
    await conn.execute("DELETE FROM statement_rules WHERE subject = $1", subject)


async def extra_credit(
    conn: asyncpg.Connection,
    amount: int,
    merchant_id: str | None,
    merchant_trade_no: str | None,
    day: date,
    now: datetime,
) -> tuple[str, list[Outgoing]]:
    """Book a credit no processor reported (money nobody paid through the platform): its TradeNo, and the event."""
    trade_no = "XB" + secrets.token_hex(9).upper()  # 20 characters, like a TradeNo, but no processor issued it
    credit = Movement(
        credit_line_id(trade_no),
        StatementDirection.CREDIT,
        amount,
        day,
        now,
        merchant_id=merchant_id,
        merchant_trade_no=merchant_trade_no,
        trade_no=trade_no,
    )
    return trade_no, await book(conn, [credit])
