"""The notification service's consumer handler: learn each order's targets; turn each ticket change and refund
result into a notification row, in the transaction of the inbox claim (so an event is notified exactly once)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.notification.config import NotifyConfig
from services.notification.domain.notices import Notice
from services.notification.domain.schedule import first_due, too_old
from services.notification.inbound import OrderTargets, fact_of
from services.notification.outbound import destination
from services.notification.store import deliveries, orders
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing
from shared.infra.messages import Inbound, Parsed
from shared.infra.service import Runtime


@dataclass
class NotificationHandlers:
    runtime: Runtime
    config: NotifyConfig

    async def on_events(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[EventEnvelope]]]
    ) -> list[Outgoing]:
        now = self.runtime.clock.now()
        targets: list[OrderTargets] = []
        notices: list[tuple[Notice, datetime]] = []
        for _record, parsed in items:
            fact = fact_of(parsed.body)
            if isinstance(fact, OrderTargets):
                targets.append(fact)
            elif fact is not None and not too_old(parsed.body.occurred_at, now, self.config.max_event_age):
                notices.append((fact, parsed.body.occurred_at))
        await orders.remember(conn, targets)
        await deliveries.add(conn, await self._addressable(conn, notices, now), now)
        return []  # a notification is a row here, not an event: the delivery loop sends it

    async def _addressable(
        self, conn: asyncpg.Connection, notices: Sequence[tuple[Notice, datetime]], now: datetime
    ) -> list[tuple[Notice, datetime, datetime]]:
        """The notices that may have somewhere to go, with their first due time. One whose order is known and
        names no URL, of a merchant that configured none, is dropped (most merchants of a platform never ask to
        be notified); one whose order is not known yet is kept: its TicketsIssued may still name a URL."""
        known = await orders.known(conn, sorted({(n.merchant_id, n.ticket_trade_no) for n, _ in notices}))
        kept: list[tuple[Notice, datetime, datetime]] = []
        for notice, at in notices:
            merchant = self.runtime.merchants.get(notice.merchant_id)
            if merchant is None:
                continue  # an event of a merchant nobody registered cannot be sealed for anyone
            order = known.get((notice.merchant_id, notice.ticket_trade_no))
            if order is not None and destination(notice.kind, order, merchant.record) is None:
                continue
            kept.append((notice, at, first_due(merchant.record.notify_schedule, now, self.config.daily_at)))
        return kept
