"""Orders still waiting for a fact long after their first one (payment without issuance, a write-off of an order
nobody issued...): raised once as an exception for operations, with the reasons, instead of waiting silently."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from services.escrow_settlement import notice_store, outgoing
from services.escrow_settlement.codec import order_book_of
from services.escrow_settlement.ledger.parking import pending
from services.escrow_settlement.ledger.state import OrderBook
from services.escrow_settlement.notice_store import ExceptionRow
from shared.infra import outbox

KIND = "waiting_overdue"
BATCH = 200


def reasons(book: OrderBook) -> str:
    waits = [f"{type(fact).__name__} {fact.cause_id}: {why}" for fact, why in pending(book)]
    return f"order is {book.status}" + ("; " + "; ".join(waits) if waits else "")


async def sweep(pool: asyncpg.Pool, schema: str, now: datetime, after: timedelta) -> bool:
    """Raise up to BATCH overdue orders; True if there may be more."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT order_key, merchant_id, book, waiting_since FROM order_books"
            " WHERE waiting_since IS NOT NULL AND NOT overdue_raised AND waiting_since <= $1"
            " ORDER BY waiting_since LIMIT $2 FOR UPDATE SKIP LOCKED",
            now - after,
            BATCH,
        )
        problems = [
            ExceptionRow(KIND, f"{r['order_key']}/waiting-since/{r['waiting_since'].isoformat()}", r["order_key"],
                         r["merchant_id"], reasons(order_book_of(r["book"])))
            for r in rows
        ]  # fmt: skip
        await notice_store.record_exceptions(conn, problems, now)
        await conn.execute(
            "UPDATE order_books SET overdue_raised = true WHERE order_key = ANY($1::text[])",
            [r["order_key"] for r in rows],
        )
        events = [outgoing.exception_raised(p.kind, p.cause_id, p.subject, p.merchant_id, p.detail, now)
                  for p in problems]  # fmt: skip
        await outbox.append(conn, schema, events)
    return len(rows) == BATCH
