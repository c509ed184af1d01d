"""Entry points of issuance: a consumer batch of Issue requests and payment outcomes, and the deadline sweeper."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.issuance import store
from services.issuance.domain.request import Invalid, validate
from services.issuance.orders import PRODUCER, OrderDesk
from services.issuance.store import NewOrder
from shared.clock import business_date
from shared.contracts.catalog import Product
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing, payload_of
from shared.contracts.ingest import IngestRequest
from shared.contracts.issuance import IssueFailed
from shared.contracts.operations import OWNERS, owner_of, served_by
from shared.contracts.payments import PaymentConfirmed, PaymentRejected, PaymentRejectReason
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.authentication import Caller, Refusal
from shared.ecticket.replies import Addressee, refusal_reply, reply
from shared.ids import derived_id
from shared.infra import outbox
from shared.infra.compacted import CompactedView
from shared.infra.messages import Inbound, Parsed

log = logging.getLogger(__name__)

ISSUE = "Issue"
# What reaches issuance's batch handler: payment events and ingest requests.
Input = EventEnvelope | IngestRequest
SWEEP_BATCH = 200
# The deadline sweep runs every second; a longer gap than this between two of its runs means issuance was down.
SWEEP_GAP_USUAL = timedelta(seconds=5)
# After such a gap, how long waiting orders get on top of it for the consumers to work off the backlog.
DOWNTIME_CATCH_UP = timedelta(seconds=30)


@dataclass
class IssuanceHandlers:
    desk: OrderDesk
    products: CompactedView[Product]

    async def on_batch(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[Input]]]
    ) -> list[Outgoing]:
        """Payments first, then requests: an order whose two halves arrive in one batch is decided once."""
        runtime = self.desk.runtime
        now = runtime.clock.now()
        out: list[Outgoing] = []
        confirmed: dict[tuple[str, str], PaymentConfirmed] = {}
        new: dict[tuple[str, str], NewOrder] = {}
        rejected: dict[tuple[str, str], str] = {}  # the last rejection of each order in the batch
        for _, parsed in items:
            body = parsed.body
            if isinstance(body, EventEnvelope):
                event = payload_of(body)
                if isinstance(event, PaymentConfirmed):
                    confirmed.setdefault((event.merchant_id, event.merchant_trade_no), event)
                elif isinstance(event, PaymentRejected) and event.reason is not PaymentRejectReason.UNKNOWN_MERCHANT:
                    # (No order of an unknown merchant can exist: recording its rejection would only store junk.)
                    rejected[(event.merchant_id, event.merchant_trade_no)] = event.reason.value
                continue
            accepted = await self._accept(parsed.message_id, body, now)
            if isinstance(accepted, NewOrder) and accepted.key not in new:
                new[accepted.key] = accepted
            elif isinstance(accepted, NewOrder):
                out.append(self._duplicate(accepted))
            else:
                out.extend(accepted)
        await store.add_rejections(conn, rejected, now)
        paid_rows = await store.add_payments(conn, list(confirmed.values()), now) if confirmed else []
        request_rows = await store.add_requests(conn, list(new.values()), now) if new else []
        attached = {(r.merchant_id, r.ticket_trade_no) for r in request_rows}
        out += [self._duplicate(n) for key, n in new.items() if key not in attached]
        return out + await self.desk.settle(conn, paid_rows + request_rows, now)

    async def _accept(self, message_id: uuid.UUID, request: IngestRequest, now: datetime) -> NewOrder | list[Outgoing]:
        """Authenticate and validate one request (pure apart from the in-memory views)."""
        if owner_of(request.operation) != PRODUCER.name:
            return []
        runtime = self.desk.runtime
        caller = await runtime.merchants.authenticate(request.envelope, int(now.timestamp()))
        to = Addressee.of(message_id, request, caller)
        if isinstance(caller, Refusal):
            return [refusal_reply(to, caller, runtime.clock.now(), PRODUCER)]
        if not served_by(PRODUCER.name, request.operation):
            known = request.operation in OWNERS
            unknown = f"{request.operation!r} is {'not served yet' if known else 'not an ECTicket operation'}"
            return [reply(to, RtnCode.OPERATION_UNKNOWN, unknown, runtime.clock.now(), PRODUCER)]
        catalogue = await self._products_for(caller.merchant_id, caller.data)
        order = validate(caller.data, catalogue.get, business_date(runtime.clock.now(caller.merchant_id)))
        if isinstance(order, Invalid):
            return self._invalid(message_id, to, caller, order, now)
        return NewOrder(
            order,
            request.request_id,
            message_id,
            caller.platform_id,
            caller.signer.merchant_id,
            now + self.desk.payment_wait,
        )

    async def sweep_overdue(self) -> bool:
        """Fail paid orders whose payment did not arrive in time; True while more may be overdue.

        Time in which issuance could not run (its database down or restarting, no instance up) is not counted:
        a payment sent meanwhile sits in Kafka, and failing its order before the consumer has caught up would keep
        the money and issue nothing. The sweep notices such a gap by its own last run, and gives the waiting orders
        the gap back, plus DOWNTIME_CATCH_UP for the backlog to be consumed.
        """
        runtime = self.desk.runtime
        async with runtime.pool.acquire() as conn, conn.transaction():
            now = runtime.clock.now()
            credit = await store.credit_downtime(conn, now, SWEEP_GAP_USUAL, DOWNTIME_CATCH_UP)
            if credit:
                log.warning("payment deadlines of waiting orders moved on by %s: issuance could not run", credit)
            rows = await store.overdue_orders(conn, now, SWEEP_BATCH)
            await outbox.append(conn, runtime.schema, await self.desk.settle(conn, rows, now))
        return len(rows) == SWEEP_BATCH

    async def _products_for(self, merchant_id: str, data: dict[str, object]) -> dict[str, Product]:
        lines = data.get("TicketInfo")
        wanted = (
            {str(line.get("ItemNo")) for line in lines if isinstance(line, dict)} if isinstance(lines, list) else set()
        )
        found: dict[str, Product] = {}
        for item_no in wanted:
            product = await self.products.lookup(f"{merchant_id}/{item_no}")
            if product is not None:
                found[item_no] = product
        return found

    def _invalid(
        self, cause: uuid.UUID, to: Addressee, caller: Caller, invalid: Invalid, now: datetime
    ) -> list[Outgoing]:
        failed = IssueFailed(
            merchant_id=caller.merchant_id,
            platform_id=caller.platform_id,
            merchant_trade_no=_text(caller.data.get("MerchantTradeNo")),
            free_trade_no=_text(caller.data.get("FreeTradeNo")),
            request_id=to.request_id,
            rtn_code=int(invalid.code),
            reason=invalid.detail,
            failed_at=now,
        )
        event = PRODUCER.event(
            failed, derived_id(cause, "failed"), now, correlation_id=to.request_id, causation_id=str(cause)
        )
        return [event, reply(to, invalid.code, invalid.detail, self.desk.runtime.clock.now(), PRODUCER)]

    def _duplicate(self, new: NewOrder) -> Outgoing:
        runtime = self.desk.runtime
        to = Addressee(new.message_id, new.request_id, ISSUE, new.order.merchant_id, new.platform_id,
                       runtime.merchants.get(new.signer_id))  # fmt: skip
        detail = f"order {new.order.trade_no} was already submitted"
        return reply(to, RtnCode.ORDER_DUPLICATE, detail, runtime.clock.now(), PRODUCER)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
