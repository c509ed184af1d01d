"""A batch of AIO payment results: record the first verified payment of each order, refuse the rest with reasons.

Set-wise: one INSERT for every new payment of the batch; only repeats of an order already paid are looked up."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.payment_confirmation import outbound, store
from services.payment_confirmation.domain.assessment import Refused, assess
from services.payment_confirmation.domain.repeats import refuse_repeat
from services.payment_confirmation.inbound import PaymentResult
from shared.contracts.events import Outgoing
from shared.contracts.payments import PaymentConfirmed
from shared.infra.messages import Inbound, Parsed
from shared.infra.service import Runtime


@dataclass(frozen=True)
class Judged:
    parsed: Parsed[PaymentResult]
    fields: dict[str, str]
    decision: PaymentConfirmed | Refused


@dataclass(frozen=True)
class PaymentHandlers:
    runtime: Runtime

    async def on_payment_results(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[PaymentResult]]]
    ) -> list[Outgoing]:
        runtime = self.runtime
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
        new = [(j.decision, j.fields) for j in first.values() if isinstance(j.decision, PaymentConfirmed)]
        stored = await store.add_first_payments(conn, new, now)
        out: list[Outgoing] = []
        for j in judged:
            decision = j.decision
            if isinstance(decision, Refused):
                out.append(await _reject(conn, j, decision, None, now))
                continue
            order = (decision.merchant_id, decision.merchant_trade_no)
            if first[order] is j and order in stored:
                out.append(outbound.confirmed(decision, j.parsed.message_id, now))
            else:
                out += await _repeat(conn, j, decision, now)
        return out


async def _repeat(conn: asyncpg.Connection, j: Judged, new: PaymentConfirmed, now: datetime) -> list[Outgoing]:
    """A payment for an order already paid: the same one again changes nothing; another one is a conflict."""
    known = await store.known_payment(conn, new.merchant_id, new.merchant_trade_no)
    conflict = refuse_repeat(known, new)
    return [] if conflict is None else [await _reject(conn, j, conflict, known.trade_no, now)]


async def _reject(
    conn: asyncpg.Connection, j: Judged, refusal: Refused, confirmed_trade_no: str | None, now: datetime
) -> Outgoing:
    await store.add_rejection(conn, j.fields, refusal, now)
    return outbound.rejected(j.fields, refusal, confirmed_trade_no, j.parsed.message_id, now)
