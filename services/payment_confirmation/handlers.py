"""on_payment_result: record the first verified payment of an order, reject everything else with a reason."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.payment_confirmation.domain import Known, Refused, assess, is_same_payment
from services.payment_confirmation.intake import PaymentResult
from shared.contracts.events import Outgoing, wrap
from shared.contracts.payments import PaymentConfirmed, PaymentRejected, PaymentRejectReason
from shared.ids import derived_id
from shared.infra.messages import Inbound, Parsed
from shared.infra.service import Runtime

PRODUCER = "payment-confirmation"


async def on_payment_result(
    runtime: Runtime, conn: asyncpg.Connection, parsed: Parsed, record: Inbound
) -> Sequence[Outgoing]:
    result: PaymentResult = parsed.body
    fields = result.fields
    now = runtime.clock.now(fields["MerchantID"])
    merchant = await runtime.merchants.lookup(fields["MerchantID"])
    decision = assess(fields, merchant)
    if isinstance(decision, Refused):
        return [await _reject(conn, parsed, fields, decision, None, now)]
    inserted = await conn.fetchval(
        """
        INSERT INTO payments (merchant_id, merchant_trade_no, trade_no, amount, payment_type, payment_date,
                              simulated, fields, confirmed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        ON CONFLICT DO NOTHING
        RETURNING 1
        """,
        decision.merchant_id,
        decision.merchant_trade_no,
        decision.trade_no,
        decision.amount,
        decision.payment_type,
        decision.payment_date,
        decision.simulated,
        json.dumps(_without_checksum(fields)),
        now,
    )
    if inserted is None:
        row = await conn.fetchrow(
            "SELECT trade_no, amount FROM payments WHERE merchant_id = $1 AND merchant_trade_no = $2",
            decision.merchant_id,
            decision.merchant_trade_no,
        )
        if is_same_payment(Known(row["trade_no"], row["amount"]), decision):
            return []  # the same payment again: nothing changes
        conflict = Refused(
            PaymentRejectReason.CONFLICTING_DUPLICATE,
            f"order already paid by TradeNo {row['trade_no']} (NT${row['amount']}); this one is not applied",
        )
        return [await _reject(conn, parsed, fields, conflict, row["trade_no"], now)]
    return [_event(decision, parsed, now, "confirmed")]


async def _reject(
    conn: asyncpg.Connection,
    parsed: Parsed,
    fields: dict[str, str],
    refusal: Refused,
    confirmed_trade_no: str | None,
    now: datetime,
) -> Outgoing:
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
    amount = fields.get("TradeAmt", "")
    event = PaymentRejected(
        merchant_id=fields["MerchantID"],
        merchant_trade_no=fields["MerchantTradeNo"],
        trade_no=fields.get("TradeNo") or None,
        amount=int(amount) if amount.isdigit() else None,
        reason=refusal.reason,
        message=refusal.message,
        confirmed_trade_no=confirmed_trade_no,
        received_at=now,
    )
    return _event(event, parsed, now, "rejected")


def _event(event: PaymentConfirmed | PaymentRejected, parsed: Parsed, now: datetime, label: str) -> Outgoing:
    return wrap(
        event,
        event_id=derived_id(parsed.message_id, label),
        occurred_at=now,
        producer=PRODUCER,
        correlation_id=f"{event.merchant_id}/{event.merchant_trade_no}",
        causation_id=str(parsed.message_id),
    )


def _without_checksum(fields: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in fields.items() if k != "CheckMacValue"}
