"""Orders still waiting for a fact long after their first one (payment without issuance, a write-off of an order
nobody issued...): raised once as an exception for operations, with the reasons, instead of waiting silently."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from services.escrow_settlement import outbound
from services.escrow_settlement.domain.parking import waiting_reasons
from services.escrow_settlement.outbound import ExceptionRow
from services.escrow_settlement.store import books, notices
from shared.infra import outbox

KIND = "waiting_overdue"
BATCH = 200


async def sweep(pool: asyncpg.Pool, schema: str, now: datetime, after: timedelta) -> bool:
    """Raise up to BATCH overdue orders; True if there may be more."""
    async with pool.acquire() as conn, conn.transaction():
        overdue = await books.overdue_orders(conn, now - after, BATCH)
        problems = [
            ExceptionRow(
                KIND,
                f"{o.order_key}/waiting-since/{o.since.isoformat()}",
                o.order_key,
                o.merchant_id,
                waiting_reasons(o.book),
            )
            for o in overdue
        ]
        await notices.record_exceptions(conn, problems, now)
        await books.mark_overdue_raised(conn, [o.order_key for o in overdue])
        events = [
            outbound.exception_raised(p.kind, p.cause_id, p.subject, p.merchant_id, p.detail, now) for p in problems
        ]
        await outbox.append(conn, schema, events)
    return len(overdue) == BATCH
