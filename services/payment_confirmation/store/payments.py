"""The verified payments of each order (the one that stands, and duplicates) and every refused result."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.payment_confirmation.domain.repeats import Order, OrderPayments
from shared.contracts.payments import PaymentConfirmed, PaymentRejectReason


@dataclass(frozen=True)
class Refusal:
    """A result refused, by the local checks or after the processor's answer, with the fields it came with."""

    fields: dict[str, str]
    reason: PaymentRejectReason
    message: str


async def order_payments(conn: asyncpg.Connection, orders: Sequence[Order]) -> dict[Order, OrderPayments]:
    """The payments recorded for those of `orders` that have one (one statement)."""
    if not orders:
        return {}
    rows = await conn.fetch(
        """
        SELECT p.merchant_id, p.merchant_trade_no, p.trade_no,
               array_remove(array_agg(d.trade_no), NULL) AS duplicates
        FROM unnest($1::text[], $2::text[]) AS u(m, o)
        JOIN payments p ON p.merchant_id = u.m AND p.merchant_trade_no = u.o
        LEFT JOIN duplicate_payments d ON d.merchant_id = p.merchant_id AND d.merchant_trade_no = p.merchant_trade_no
        GROUP BY p.merchant_id, p.merchant_trade_no, p.trade_no
        """,
        [m for m, _ in orders],
        [o for _, o in orders],
    )
    return {
        (r["merchant_id"], r["merchant_trade_no"]): OrderPayments(r["trade_no"], frozenset(r["duplicates"]))
        for r in rows
    }


async def add_first_payments(
    conn: asyncpg.Connection, payments: Sequence[tuple[PaymentConfirmed, dict[str, str]]], now: datetime
) -> set[Order]:
    """Insert each order's payment with the fields it came with (one statement); returns the orders stored. An
    order paid already (by another verifier, meanwhile) keeps its payment. The fields leave out CheckMacValue:
    the payment was verified (a refused result keeps it, for the investigation). Rows go in order of their key,
    so two verifiers inserting the same orders wait for each other instead of deadlocking."""
    if not payments:
        return set()
    rows = await conn.fetch(
        """
        INSERT INTO payments (merchant_id, merchant_trade_no, trade_no, amount, payment_type, payment_date,
                              simulated, escrow_days, fields, confirmed_at)
        SELECT m, o, t, a, pt, d, s, e, f, $10
        FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::bool[],
                    $8::int[], $9::jsonb[]) AS u(m, o, t, a, pt, d, s, e, f)
        ORDER BY m, o
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
        [p.escrow_days for p, _ in payments],
        [_verified(fields) for _, fields in payments],
        now,
    )
    return {(r["merchant_id"], r["merchant_trade_no"]) for r in rows}


async def add_duplicates(
    conn: asyncpg.Connection, duplicates: Sequence[tuple[PaymentConfirmed, dict[str, str]]], now: datetime
) -> set[tuple[str, str, str]]:
    """Record second genuine trades (each PaymentConfirmed with duplicate_of); returns the (MerchantID,
    MerchantTradeNo, TradeNo) stored: one another verifier recorded meanwhile is not stored twice."""
    if not duplicates:
        return set()
    rows = await conn.fetch(
        """
        INSERT INTO duplicate_payments (merchant_id, merchant_trade_no, trade_no, amount, payment_type,
                                        payment_date, simulated, duplicate_of, fields, confirmed_at)
        SELECT m, o, t, a, pt, d, s, dup, f, $10
        FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::timestamptz[], $7::bool[],
                    $8::text[], $9::jsonb[]) AS u(m, o, t, a, pt, d, s, dup, f)
        ORDER BY m, o, t
        ON CONFLICT DO NOTHING
        RETURNING merchant_id, merchant_trade_no, trade_no
        """,
        [p.merchant_id for p, _ in duplicates],
        [p.merchant_trade_no for p, _ in duplicates],
        [p.trade_no for p, _ in duplicates],
        [p.amount for p, _ in duplicates],
        [p.payment_type for p, _ in duplicates],
        [p.payment_date for p, _ in duplicates],
        [p.simulated for p, _ in duplicates],
        [p.duplicate_of for p, _ in duplicates],
        [_verified(fields) for _, fields in duplicates],
        now,
    )
    return {(r["merchant_id"], r["merchant_trade_no"], r["trade_no"]) for r in rows}


async def add_rejections(conn: asyncpg.Connection, refusals: Sequence[Refusal], now: datetime) -> None:
    """Keep refused results with all their fields, CheckMacValue included (for the investigation)."""
    if not refusals:
        return
    await conn.execute(
        """
        INSERT INTO rejections (merchant_id, merchant_trade_no, trade_no, reason, message, fields, rejected_at)
        SELECT m, o, t, r, msg, f, $7
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[]) AS u(m, o, t, r, msg, f)
        """,
        [r.fields["MerchantID"] for r in refusals],
        [r.fields["MerchantTradeNo"] for r in refusals],
        [r.fields.get("TradeNo") for r in refusals],
        [r.reason.value for r in refusals],
        [r.message for r in refusals],
        [json.dumps(r.fields) for r in refusals],
        now,
    )


def _verified(fields: dict[str, str]) -> str:
    return json.dumps({k: v for k, v in fields.items() if k != "CheckMacValue"})
