"""Entry points of issuance: Issue requests, payment outcomes, and the payment-deadline sweeper."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.issuance import store
from services.issuance.domain.request import Invalid, validate
from services.issuance.orders import PRODUCER, OrderDesk
from shared.clock import business_date
from shared.contracts.catalog import Product
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing, payload_of, wrap
from shared.contracts.ingest import IngestRequest
from shared.contracts.issuance import IssueFailed
from shared.contracts.payments import PaymentConfirmed, PaymentRejected
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.replies import reply
from shared.ids import derived_id
from shared.infra import outbox
from shared.infra.compacted import CompactedView
from shared.infra.messages import Inbound, Parsed
from shared.merchants.directory import Caller, Refusal

log = logging.getLogger(__name__)

ISSUE = "Issue"
# Operations other services answer; issuance answers everything else (so each request gets one reply).
OTHER_OWNERS = frozenset({"WriteOff", "Refund"})
SWEEP_BATCH = 200


@dataclass
class IssuanceHandlers:
    desk: OrderDesk
    products: CompactedView[Product]

    async def on_request(self, conn: asyncpg.Connection, parsed: Parsed, _record: Inbound) -> Sequence[Outgoing]:
        request: IngestRequest = parsed.body
        if request.operation in OTHER_OWNERS:
            return []
        runtime = self.desk.runtime
        now = runtime.clock.now()
        caller = await runtime.merchants.authenticate(request.envelope, int(now.timestamp()))
        if isinstance(caller, Refusal):
            return [self._refuse(parsed, request, caller, caller.code, caller.detail, caller.envelope_level)]
        if request.operation != ISSUE:
            return [
                self._refuse(
                    parsed, request, caller, RtnCode.OPERATION_UNKNOWN, f"unknown operation {request.operation!r}"
                )
            ]
        merchant_id = caller.merchant.merchant_id
        now = runtime.clock.now(merchant_id)
        catalogue = await self._products_for(merchant_id, caller.data)
        order = validate(caller.data, catalogue.get, business_date(now))
        if isinstance(order, Invalid):
            return self._invalid(parsed, request, caller, order)
        if order.paid:
            await store.lock_order_key(conn, merchant_id, order.trade_no)  # joins with the payment event
        row = await store.insert_order(
            conn,
            order,
            request_id=request.request_id,
            message_id=parsed.message_id,
            platform_id=caller.platform_id,
            signer_id=caller.signer.merchant_id,
            deadline=runtime.clock.now() + self.desk.payment_wait,
            now=now,
        )
        if row is None:
            return [
                self._refuse(
                    parsed, request, caller, RtnCode.ORDER_DUPLICATE, f"order {order.trade_no} was already submitted"
                )
            ]
        payment = await store.known_payment(conn, merchant_id, order.trade_no) if order.paid else None
        return await self.desk.settle(conn, row, payment, now)

    async def on_payment_event(self, conn: asyncpg.Connection, parsed: Parsed, _record: Inbound) -> Sequence[Outgoing]:
        envelope: EventEnvelope = parsed.body
        event = payload_of(envelope)
        if not isinstance(event, PaymentConfirmed | PaymentRejected):
            return []
        now = self.desk.runtime.clock.now(event.merchant_id)
        await store.lock_order_key(conn, event.merchant_id, event.merchant_trade_no)
        if isinstance(event, PaymentRejected):
            await store.record_rejection(conn, event.merchant_id, event.merchant_trade_no, event.reason.value, now)
            return []
        await store.record_confirmed(
            conn, event.merchant_id, event.merchant_trade_no, event.trade_no, event.amount, event.payment_date, now
        )
        row = await store.waiting_order(conn, event.merchant_id, event.merchant_trade_no)
        if row is None:
            return []  # the Issue request has not arrived yet (or the order is already decided)
        payment = await store.known_payment(conn, event.merchant_id, event.merchant_trade_no)
        return await self.desk.settle(conn, row, payment, now)

    async def sweep_overdue(self) -> int:
        """Fail paid orders whose payment did not arrive in time; returns how many were decided."""
        runtime = self.desk.runtime
        async with runtime.pool.acquire() as conn, conn.transaction():
            out: list[Outgoing] = []
            rows = await store.overdue_orders(conn, runtime.clock.now(), SWEEP_BATCH)
            for row in rows:
                payment = await store.known_payment(conn, row.merchant_id, row.ticket_trade_no)
                out.extend(await self.desk.settle(conn, row, payment, runtime.clock.now()))
            await outbox.append(conn, runtime.schema, out)
        return len(rows)

    async def run_sweeper(self, interval: float = 1.0) -> None:
        stopping = self.desk.runtime.stopping
        while not stopping.is_set():
            try:
                decided = await self.sweep_overdue()
            except (OSError, asyncpg.PostgresError) as exc:
                log.warning("deadline sweep failed, will retry: %r", exc)
                decided = 0
            if decided < SWEEP_BATCH:
                await asyncio.sleep(interval)

    async def _products_for(self, merchant_id: str, data: dict[str, object]) -> dict[str, Product]:
        lines = data.get("TicketInfo")
        items = (
            {str(line.get("ItemNo")) for line in lines if isinstance(line, dict)} if isinstance(lines, list) else set()
        )
        found: dict[str, Product] = {}
        for item_no in items:
            product = await self.products.lookup(f"{merchant_id}/{item_no}")
            if product is not None:
                found[item_no] = product
        return found

    def _invalid(self, parsed: Parsed, request: IngestRequest, caller: Caller, invalid: Invalid) -> list[Outgoing]:
        data = caller.data
        failed = IssueFailed(
            merchant_id=caller.merchant.merchant_id,
            platform_id=caller.platform_id,
            merchant_trade_no=_text(data.get("MerchantTradeNo")),
            free_trade_no=_text(data.get("FreeTradeNo")),
            request_id=request.request_id,
            rtn_code=int(invalid.code),
            reason=invalid.detail,
            failed_at=self.desk.runtime.clock.now(),
        )
        event = wrap(
            failed,
            event_id=derived_id(parsed.message_id, "failed"),
            occurred_at=failed.failed_at,
            producer=PRODUCER,
            correlation_id=request.request_id,
            causation_id=str(parsed.message_id),
        )
        return [
            event,
            self._refuse(parsed, request, caller, invalid.code, invalid.detail),
        ]

    def _refuse(
        self,
        parsed: Parsed,
        request: IngestRequest,
        who: Caller | Refusal,
        code: RtnCode,
        detail: str,
        envelope_level: bool = False,
    ) -> Outgoing:
        return reply(
            message_id=parsed.message_id,
            request_id=request.request_id,
            operation=request.operation,
            merchant_id=who.merchant_id,
            platform_id=who.platform_id,
            signer=who.signer,
            code=code,
            detail=detail,
            now=self.desk.runtime.clock.now(),
            producer=PRODUCER,
            envelope_level=envelope_level,
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
