"""The issuance service layer: requests and payments meet here, and every order ends issued or failed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.issuance import store
from services.issuance.domain.codes import RandomSource, new_ticket_no, new_write_off_no
from services.issuance.domain.join import Fail, Issue, KnownPayment, join
from services.issuance.domain.tickets import build_tickets_issued
from services.issuance.store import OrderRow
from shared.contracts.common import IssueStatus
from shared.contracts.events import Outgoing, wrap
from shared.contracts.issuance import IssueFailed, PaymentRef, TicketsIssued
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.replies import reply
from shared.ids import derived_id
from shared.infra.service import Runtime

PRODUCER = "issuance"
CODE_ATTEMPTS = 5


@dataclass
class OrderDesk:
    runtime: Runtime
    codes: RandomSource
    payment_wait: timedelta

    async def settle(
        self, conn: asyncpg.Connection, row: OrderRow, payment: KnownPayment | None, now: datetime
    ) -> Sequence[Outgoing]:
        """Decide a waiting order: issue it, fail it, or leave it waiting for its payment."""
        if not row.order.paid:
            return await self._issue(conn, row, None, now)
        decision = join(row.order.pickup_total, payment, now, row.deadline)
        if isinstance(decision, Issue):
            assert payment is not None and payment.trade_no and payment.amount and payment.payment_date
            ref = PaymentRef(trade_no=payment.trade_no, amount=payment.amount, payment_date=payment.payment_date)
            return await self._issue(conn, row, ref, now)
        if isinstance(decision, Fail):
            return await self.fail(conn, row, decision.code, decision.detail, now)
        return []

    async def _issue(
        self, conn: asyncpg.Connection, row: OrderRow, payment: PaymentRef | None, now: datetime
    ) -> Sequence[Outgoing]:
        merchant = await self.runtime.merchants.lookup(row.merchant_id)
        if merchant is None:
            return await self.fail(conn, row, RtnCode.MERCHANT_UNKNOWN, "merchant disabled before issuance", now)
        for _ in range(CODE_ATTEMPTS):
            issued = build_tickets_issued(
                row.order,
                platform_id=row.platform_id,
                request_id=row.request_id,
                payment=payment,
                escrow_days=merchant.record.escrow_days,
                merchant_fee_rule=merchant.record.refund_fee_rule,
                issued_at=now,
                codes=lambda: (new_ticket_no(self.codes), new_write_off_no(self.codes)),
            )
            if await store.insert_tickets(conn, issued):
                break
        else:
            raise RuntimeError("could not draw unique ticket codes; is the random source broken?")
        await store.finish_order(conn, row.merchant_id, row.ticket_trade_no, IssueStatus.SUCCESS, 1, "issued", now)
        event = self._event(issued, row, "issued", now)
        return [event, await self._reply(row, RtnCode.SUCCESS, None, now, _success_data(issued))]

    async def fail(
        self, conn: asyncpg.Connection, row: OrderRow, code: RtnCode, detail: str, now: datetime
    ) -> Sequence[Outgoing]:
        await store.finish_order(conn, row.merchant_id, row.ticket_trade_no, IssueStatus.FAILED, int(code), detail, now)
        failed = IssueFailed(
            merchant_id=row.merchant_id,
            platform_id=row.platform_id,
            merchant_trade_no=row.ticket_trade_no if row.order.paid else None,
            free_trade_no=None if row.order.paid else row.ticket_trade_no,
            request_id=row.request_id,
            rtn_code=int(code),
            reason=detail,
            failed_at=now,
        )
        return [self._event(failed, row, "failed", now), await self._reply(row, code, detail, now)]

    def _event(self, event: TicketsIssued | IssueFailed, row: OrderRow, label: str, now: datetime) -> Outgoing:
        return wrap(
            event,
            event_id=derived_id(row.request_message_id, label),
            occurred_at=now,
            producer=PRODUCER,
            correlation_id=row.request_id,
            causation_id=str(row.request_message_id),
        )

    async def _reply(
        self, row: OrderRow, code: RtnCode, detail: str | None, now: datetime, extra: dict[str, object] | None = None
    ) -> Outgoing:
        signer = await self.runtime.merchants.lookup(row.signer_id)
        order_field = "MerchantTradeNo" if row.order.paid else "FreeTradeNo"
        return reply(
            message_id=row.request_message_id,
            request_id=row.request_id,
            operation="Issue",
            merchant_id=row.merchant_id,
            platform_id=row.platform_id,
            signer=signer,
            code=code,
            detail=detail,
            now=now,
            producer=PRODUCER,
            extra={
                order_field: row.ticket_trade_no,
                "Status": int(IssueStatus.SUCCESS if code == 1 else IssueStatus.FAILED),
                **(extra or {}),
            },
        )


def _success_data(issued: TicketsIssued) -> dict[str, object]:
    lines: dict[tuple[str | None, str, int], int] = {}
    for t in issued.tickets:
        key = (t.item_no, t.item_name, t.face_value)
        lines[key] = lines.get(key, 0) + 1
    return {
        "TicketTradeNo": issued.ticket_trade_no,
        "TicketData": [
            {"ItemNo": no or "", "ItemName": name, "TicketPrice": price, "TicketAmount": count}
            for (no, name, price), count in lines.items()
        ],
        "TicketList": [
            {
                "TicketNo": t.ticket_no,
                "WriteOffNo": t.write_off_no,
                "ItemNo": t.item_no or "",
                "TicketType": int(t.ticket_type),
                "StartDate": _ymd(t.start_date),
                "ExpireDate": _ymd(t.expire_date),
            }
            for t in issued.tickets
        ],
    }


def _ymd(day: object) -> str:
    return day.strftime("%Y%m%d") if hasattr(day, "strftime") else ""
