"""The issuance service layer: orders whose halves have met are decided here, a whole batch at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.issuance import store
from services.issuance.domain.codes import RandomSource, new_ticket_no, new_write_off_no
from services.issuance.domain.join import Fail, Issue, join
from services.issuance.domain.tickets import build_tickets_issued
from services.issuance.replies import issue_reply
from services.issuance.store import OrderRow, Outcome
from shared.contracts.common import IssueStatus
from shared.contracts.events import Outgoing, Producer
from shared.contracts.issuance import IssueFailed, PaymentRef, TicketsIssued
from shared.contracts.rtncodes import RtnCode
from shared.ids import derived_id
from shared.infra.service import Runtime

PRODUCER = Producer("issuance")
CODE_ATTEMPTS = 5


@dataclass
class OrderDesk:
    runtime: Runtime
    codes: RandomSource
    payment_wait: timedelta

    async def settle(self, conn: asyncpg.Connection, rows: Sequence[OrderRow], now: datetime) -> list[Outgoing]:
        """Decide every waiting order in `rows`: issue it, fail it, or leave it waiting for its payment."""
        issued: list[tuple[OrderRow, TicketsIssued]] = []
        failed: list[tuple[OrderRow, RtnCode, str]] = []
        for row in rows:
            if row.status is not IssueStatus.PROCESSING or row.order is None:
                continue
            decision = (
                join(row.order.pickup_total, row.payment, now, row.deadline or now) if row.order.paid else Issue()
            )
            if isinstance(decision, Fail):
                failed.append((row, decision.code, decision.detail))
            elif isinstance(decision, Issue):
                built = await self._build(row, now)
                if isinstance(built, TicketsIssued):
                    issued.append((row, built))
                else:
                    failed.append((row, RtnCode.MERCHANT_UNKNOWN, built))
        issued = await self._store_tickets(conn, issued, now)
        await store.finish_orders(
            conn,
            [Outcome(r.merchant_id, r.ticket_trade_no, IssueStatus.SUCCESS, 1, "issued") for r, _ in issued]
            + [Outcome(r.merchant_id, r.ticket_trade_no, IssueStatus.FAILED, int(c), d) for r, c, d in failed],
            now,
        )
        out: list[Outgoing] = []
        for row, event in issued:
            out += [self._event(event, row, "issued", now), await issue_reply(self.runtime, row, event, None, now)]
        for row, code, detail in failed:
            out += [
                self._event(self._failure(row, code, detail, now), row, "failed", now),
                await issue_reply(self.runtime, row, None, (code, detail), now),
            ]
        return out

    async def _build(self, row: OrderRow, now: datetime) -> TicketsIssued | str:
        merchant = await self.runtime.merchants.lookup(row.merchant_id)
        if merchant is None or row.order is None:
            return "merchant disabled before issuance"
        payment = row.payment
        ref = None
        if row.order.paid and payment and payment.trade_no and payment.amount and payment.payment_date:
            ref = PaymentRef(trade_no=payment.trade_no, amount=payment.amount, payment_date=payment.payment_date)
        return build_tickets_issued(
            row.order,
            platform_id=row.platform_id,
            request_id=row.request_id,
            payment=ref,
            escrow_days=merchant.record.escrow_days,
            merchant_fee_rule=merchant.record.refund_fee_rule,
            issued_at=now,
            codes=lambda: (new_ticket_no(self.codes), new_write_off_no(self.codes)),
        )

    async def _store_tickets(
        self, conn: asyncpg.Connection, issued: list[tuple[OrderRow, TicketsIssued]], now: datetime
    ) -> list[tuple[OrderRow, TicketsIssued]]:
        """Insert all tickets at once; orders whose codes collided are redrawn (a CSPRNG makes that ~never)."""
        done: list[tuple[OrderRow, TicketsIssued]] = []
        pending = issued
        for _ in range(CODE_ATTEMPTS):
            if not pending:
                return done
            collided = await store.insert_tickets(conn, [event for _, event in pending])
            done += [(r, e) for r, e in pending if (r.merchant_id, r.ticket_trade_no) not in collided]
            retry = [r for r, _ in pending if (r.merchant_id, r.ticket_trade_no) in collided]
            pending = [(r, e) for r in retry if isinstance(e := await self._build(r, now), TicketsIssued)]
        if pending:
            raise RuntimeError("could not draw unique ticket codes; is the random source broken?")
        return done

    @staticmethod
    def _failure(row: OrderRow, code: RtnCode, detail: str, now: datetime) -> IssueFailed:
        paid = bool(row.order and row.order.paid)
        return IssueFailed(
            merchant_id=row.merchant_id,
            platform_id=row.platform_id,
            merchant_trade_no=row.ticket_trade_no if paid else None,
            free_trade_no=None if paid else row.ticket_trade_no,
            request_id=row.request_id,
            rtn_code=int(code),
            reason=detail,
            failed_at=now,
        )

    @staticmethod
    def _event(event: TicketsIssued | IssueFailed, row: OrderRow, label: str, now: datetime) -> Outgoing:
        cause = row.request_message_id
        return PRODUCER.event(
            event, derived_id(cause, label), now, correlation_id=row.request_id, causation_id=str(cause)
        )
