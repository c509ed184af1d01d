"""Issuance's consumer batch (load -> decide -> save): payment outcomes and Issue requests in, and every order
whose two halves have met decided at once: issued, failed, or left waiting for its payment."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.issuance import outbound, store
from services.issuance.domain.codes import RandomSource, new_ticket_no, new_write_off_no
from services.issuance.domain.join import Fail, Issue, join, unclaimed
from services.issuance.domain.orders import NewOrder, OrderRow, UsedOrder
from services.issuance.domain.request import Invalid, validate
from services.issuance.domain.tickets import build_tickets_issued, fixed_escrow_days
from services.issuance.inbound import Input, payment_outcomes, wanted_items
from services.issuance.outbound import PRODUCER
from services.issuance.store import Outcome
from shared.clock import business_date
from shared.contracts.archive import REQUEST, archived
from shared.contracts.catalog import Product
from shared.contracts.common import IssueStatus
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing
from shared.contracts.ingest import IngestRequest
from shared.contracts.issuance import PaymentRef, TicketsIssued
from shared.contracts.operations import owner_of, served_by
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.authentication import Refusal
from shared.ecticket.replies import Addressee, refusal_reply
from shared.ecticket.write_off_codes import CodeKey, ProtectedCode
from shared.infra.compacted import CompactedView
from shared.infra.messages import Inbound, Parsed
from shared.infra.service import Runtime
from shared.merchants.model import IssueReply

# Ticket codes drawn again for an order whose codes collided with stored ones, before giving up on the batch.
CODE_ATTEMPTS = 5


@dataclass(frozen=True)
class IssuanceHandlers:
    runtime: Runtime
    products: CompactedView[Product]
    orders: OrderDecider
    payment_wait: timedelta
    claim_wait: timedelta  # how long a payment waits for an Issue request to claim it

    async def on_batch(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[Input]]]
    ) -> list[Outgoing]:
        """Payments first, then requests: an order whose two halves arrive in one batch is decided once."""
        now = self.runtime.clock.now()
        payments = payment_outcomes(p.body for _, p in items if isinstance(p.body, EventEnvelope))
        out: list[Outgoing] = []
        new: dict[tuple[str, str], NewOrder] = {}
        for record, parsed in items:
            if not isinstance(parsed.body, IngestRequest):
                continue
            accepted, signed = await self._accept(parsed.message_id, parsed.body, record.topic, now)
            if signed:  # kept byte for byte, chained, before the events of its decision (shared/contracts/archive.py)
                merchant_id = parsed.body.envelope["MerchantID"]
                out.append(archived(REQUEST, record.topic, record.value, parsed.message_id, merchant_id))
            if isinstance(accepted, NewOrder) and accepted.key not in new:
                new[accepted.key] = accepted
            elif isinstance(accepted, NewOrder):
                out.append(self._duplicate(accepted, None))
            else:
                out.extend(accepted)
        await store.add_rejections(conn, payments.rejected, now)
        confirmed = list(payments.confirmed.values())
        paid_rows = await store.add_payments(conn, confirmed, now, self.claim_wait) if confirmed else []
        request_rows = await store.add_requests(conn, list(new.values()), now) if new else []
        out += [o for row in request_rows for o in self._accepted(row, now)]
        attached = {(r.merchant_id, r.ticket_trade_no) for r in request_rows}
        if refused := [n for key, n in new.items() if key not in attached]:
            used = await store.used_orders(conn, [n.key for n in refused])
            out += [self._duplicate(n, used.get(n.key)) for n in refused]
        return out + await self.orders.decide(conn, paid_rows + request_rows, now)

    async def _accept(
        self, message_id: uuid.UUID, request: IngestRequest, topic: str, now: datetime
    ) -> tuple[NewOrder | list[Outgoing], bool]:
        """Authenticate and validate one request (pure apart from the in-memory views); True when its signature
        verified and it is decided here (so it is archived)."""
        if owner_of(request.operation) != PRODUCER.name:
            return [], False
        runtime = self.runtime
        caller = await runtime.merchants.authenticate(request.envelope, int(now.timestamp()), topic=topic)
        to = Addressee.of(message_id, request, caller)
        if isinstance(caller, Refusal):
            return [refusal_reply(to, caller, runtime.clock.now(), PRODUCER)], False
        if not served_by(PRODUCER.name, request.operation):
            return [outbound.unserved_reply(to, request.operation, runtime.clock.now())], False
        catalogue = await self._products_for(caller.merchant_id, caller.data)
        today = business_date(runtime.clock.now(caller.merchant_id))
        order = validate(caller.data, catalogue.get, today, prints_paper=caller.merchant.record.prints_paper)
        if isinstance(order, Invalid):
            return [
                outbound.invalid_request(to, caller.data, order, now),
                outbound.invalid_reply(to, order, runtime.clock.now()),
            ], True
        outcome_reply = caller.signer.record.issue_reply is IssueReply.OUTCOME  # the reader of the reply chooses
        return NewOrder(
            order.model_copy(update={"outcome_reply": outcome_reply}),
            request.request_id,
            message_id,
            caller.platform_id,
            caller.signer.merchant_id,
            now + self.payment_wait,
            caller.door,
        ), True

    async def _products_for(self, merchant_id: str, data: dict[str, object]) -> dict[str, Product]:
        found: dict[str, Product] = {}
        for item_no in wanted_items(data):
            product = await self.products.lookup(f"{merchant_id}/{item_no}")
            if product is not None:
                found[item_no] = product
        return found

    def _accepted(self, row: OrderRow, now: datetime) -> list[Outgoing]:
        """The order exists (Status 3): its IssueAccepted, and the answer to its request unless that waits for the
        outcome. Published before the decision's events (the same key): readers see 3 before 1 or 2."""
        signer = self.runtime.merchants.get(row.signer_id)
        return outbound.accepted(row, signer, self.runtime.clock.now(), now)

    def _duplicate(self, new: NewOrder, used: UsedOrder | None) -> Outgoing:
        signer = self.runtime.merchants.get(new.signer_id)
        return outbound.duplicate_reply(new, used, signer, self.runtime.clock.now())


@dataclass(frozen=True)
class OrderDecider:
    """Decides orders whose halves have met (or whose wait is over), a whole batch of them at a time."""

    runtime: Runtime
    codes: RandomSource
    code_key: CodeKey  # the WriteOffNo is kept only hashed and sealed, and opened for the merchant's reply

    async def decide(self, conn: asyncpg.Connection, rows: Sequence[OrderRow], now: datetime) -> list[Outgoing]:
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
            signer = await self.runtime.merchants.lookup(row.signer_id)
            out += outbound.issued(row, event, signer, now, self.code_key)
        for row, code, detail in failed:
            out += outbound.failed(row, code, detail, await self.runtime.merchants.lookup(row.signer_id), now)
        return out

    async def give_up(self, conn: asyncpg.Connection, rows: Sequence[OrderRow], now: datetime) -> list[Outgoing]:
        """Fail for good the orders of payments no request claimed (`rows`, locked): settlement refunds them."""
        closed = [(row, unclaimed(row.payment, row.claim_deadline)) for row in rows]
        await store.finish_orders(
            conn,
            [Outcome(r.merchant_id, r.ticket_trade_no, IssueStatus.FAILED, int(f.code), f.detail) for r, f in closed],
            now,
        )
        return [outbound.unclaimed(row, fail.code, fail.detail, now) for row, fail in closed]

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
            escrow_days=fixed_escrow_days(payment.escrow_days if payment else None, merchant.record.escrow_days),
            merchant_fee_rule=merchant.record.refund_fee_rule,
            issued_at=now,
            codes=self._draw_codes,
        )

    def _draw_codes(self) -> tuple[str, ProtectedCode]:
        """A fresh TicketNo and WriteOffNo; the code leaves here only hashed and sealed."""
        ticket_no = new_ticket_no(self.codes)
        return ticket_no, self.code_key.protect(ticket_no, new_write_off_no(self.codes))

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
