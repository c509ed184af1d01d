"""payment-confirmation's tables: the first payment of each order, and every refused result. All SQL of the service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.payment_confirmation.domain.assessment import Refused
from services.payment_confirmation.domain.repeats import Known
from shared.contracts.payments import PaymentConfirmed


async def add_first_payments(
    conn: asyncpg.Connection, payments: Sequence[tuple[PaymentConfirmed, dict[str, str]]], now: datetime
) -> set[tuple[str, str]]:
    """Insert each order's payment with the fields it came with (one statement); returns the orders stored. An
    order paid already keeps its payment. The fields leave out CheckMacValue: the payment was verified (a
    refused result keeps it, for the investigation)."""
    if not payments:
        return set()
    rows = await conn.fetch(
        """
        INSERT INTO payments (merchant_id, merchant_trade_no, trade_no, amount, payment_type, payment_date,
                              simulated, fields, confirmed_at)
        SELECT m, o, t, a, pt, d, s, f, $9
        FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::bool[],
                    $8::jsonb[]) AS u(m, o, t, a, pt, d, s, f)
        ON CONFLICT DO NOTHING
        RETURNING merchant_id, merchant_trade_no
        """,
        [p.merchant_id for p, _ in payments],
        [p.merchant_trade_no for p, _ in payments],
        [p.trade_no for p, _ in payments],
        [p.amount for p, _ in payments],
        [p.payment_type for p, _ in payments],
        [p.payment_date for p, _ in payments],
        [p.simulated for p, _ in payments],
        [json.dumps({k: v for k, v in fields.items() if k != "CheckMacValue"}) for _, fields in payments],
        now,
    )
    return {(r["merchant_id"], r["merchant_trade_no"]) for r in rows}


async def known_payment(conn: asyncpg.Connection, merchant_id: str, merchant_trade_no: str) -> Known:
    """The payment recorded for an order that has one."""
    row = await conn.fetchrow(
        "SELECT trade_no, amount FROM payments WHERE merchant_id = $1 AND merchant_trade_no = $2",
        merchant_id,
        merchant_trade_no,
    )
    return Known(row["trade_no"], row["amount"])


async def add_rejection(conn: asyncpg.Connection, fields: dict[str, str], refusal: Refused, now: datetime) -> None:
    """Keep a refused result with all its fields, CheckMacValue included (for the investigation)."""
    await conn.execute(
        """
        INSERT INTO rejections (merchant_id, merchant_trade_no, trade_no, reason, message, fields, rejected_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        """,
        fields["MerchantID"],
        fields["MerchantTradeNo"],
        fields.get("TradeNo"),
        refusal.reason.value,
        refusal.message,
        json.dumps(fields),
        now,
    )
