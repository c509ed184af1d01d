"""A batch of AIO payment results: record the first verified payment of each order, refuse the rest with reasons.

Set-wise: one INSERT for every new payment of the batch; only repeats of an order already paid are looked up."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.payment_confirmation.domain import Known, Refused, ascii_amount, assess, is_same_payment
from services.payment_confirmation.intake import PaymentResult
from shared.contracts.events import Outgoing, Producer
from shared.contracts.payments import PaymentConfirmed, PaymentRejected, PaymentRejectReason
from shared.ids import derived_id
from shared.infra.messages import Inbound, Parsed
from shared.infra.service import Runtime

PRODUCER = Producer("payment-confirmation")


@dataclass(frozen=True)
class Judged:
    parsed: Parsed[PaymentResult]
    fields: dict[str, str]
    decision: PaymentConfirmed | Refused


async def on_payment_results(
    runtime: Runtime, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[PaymentResult]]]
) -> list[Outgoing]:
    now = runtime.clock.now()
    judged: list[Judged] = []
    for _, parsed in items:
        fields = parsed.body.fields
        merchant = await runtime.merchants.lookup(fields["MerchantID"])
        # The merchant's own time: a sandbox merchant on a test clock pays at its shifted time.
        judged.append(Judged(parsed, fields, assess(fields, merchant, runtime.clock.now(fields["MerchantID"]))))
    first: dict[tuple[str, str], Judged] = {}
    for j in judged:
        if isinstance(j.decision, PaymentConfirmed):
            first.setdefault((j.decision.merchant_id, j.decision.merchant_trade_no), j)
    stored = await _insert_new(conn, [j for j in first.values()], now)
    out: list[Outgoing] = []
    for j in judged:
        decision = j.decision
        if isinstance(decision, Refused):
            out.append(await _reject(conn, j, decision, None, now))
        elif first.get((decision.merchant_id, decision.merchant_trade_no)) is j and j.parsed.message_id in stored:
            out.append(_event(decision, j.parsed, now, "confirmed"))
        else:
            out += await _repeat(conn, j, decision, now)
    return out


async def _insert_new(conn: asyncpg.Connection, new: list[Judged], now: datetime) -> set[object]:
    """Insert every first payment of an order; returns the message ids whose payment was stored."""
    payments = [(j, j.decision) for j in new if isinstance(j.decision, PaymentConfirmed)]
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
        [p.merchant_id for _, p in payments],
        [p.merchant_trade_no for _, p in payments],
        [p.trade_no for _, p in payments],
        [p.amount for _, p in payments],
        [p.payment_type for _, p in payments],
        [p.payment_date for _, p in payments],
        [p.simulated for _, p in payments],
        [json.dumps({k: v for k, v in j.fields.items() if k != "CheckMacValue"}) for j, _ in payments],
        now,
    )
    keys = {(r["merchant_id"], r["merchant_trade_no"]) for r in rows}
    return {j.parsed.message_id for j, p in payments if (p.merchant_id, p.merchant_trade_no) in keys}


async def _repeat(conn: asyncpg.Connection, j: Judged, new: PaymentConfirmed, now: datetime) -> list[Outgoing]:
    """A payment for an order already paid: the same one again changes nothing; another one is a conflict."""
    row = await conn.fetchrow(
        "SELECT trade_no, amount FROM payments WHERE merchant_id = $1 AND merchant_trade_no = $2",
        new.merchant_id,
        new.merchant_trade_no,
    )
    if is_same_payment(Known(row["trade_no"], row["amount"]), new):
        return []
    conflict = Refused(
        PaymentRejectReason.CONFLICTING_DUPLICATE,
        f"order already paid by TradeNo {row['trade_no']} (NT${row['amount']}); this one is not applied",
    )
    return [await _reject(conn, j, conflict, row["trade_no"], now)]


async def _reject(
    conn: asyncpg.Connection, j: Judged, refusal: Refused, confirmed_trade_no: str | None, now: datetime
) -> Outgoing:
    fields = j.fields
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
    event = PaymentRejected(
        merchant_id=fields["MerchantID"],
        merchant_trade_no=fields["MerchantTradeNo"],
        trade_no=fields.get("TradeNo") or None,
        amount=ascii_amount(fields.get("TradeAmt", "")),
        reason=refusal.reason,
        message=refusal.message,
        confirmed_trade_no=confirmed_trade_no,
        received_at=now,
    )
    return _event(event, j.parsed, now, "rejected")


def _event(
    event: PaymentConfirmed | PaymentRejected, parsed: Parsed[PaymentResult], now: datetime, label: str
) -> Outgoing:
    """Correlated by order (the event's key), caused by the payment result message."""
    return PRODUCER.event(event, derived_id(parsed.message_id, label), now, causation_id=str(parsed.message_id))
