"""The core's state tables: order books and bank transfers (JSON books beside queryable columns).

Writers lock what they touch first (`lock`: transaction-scoped advisory locks, taken in sorted order), because
one order's facts arrive on three topics that different instances may consume at the same time. A bank-transfer
fact and the payout run both lock `transfer_lock(merchant)`, so the in-flight instructions and in-transit balances
read for a check are one consistent picture.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.escrow_settlement.domain.facts import PayoutRejected, RefundTransferRejected
from services.escrow_settlement.domain.parking import waiting
from services.escrow_settlement.domain.state import OrderBook, TransferBook
from services.escrow_settlement.domain.subjects import PAYOUT_FACTS, merchant_of, subject_of
from services.escrow_settlement.store.codec import order_book_json, order_book_of, transfer_book_json, transfer_book_of

REJECTIONS = (PayoutRejected, RefundTransferRejected)


def transfer_lock(merchant_id: str) -> str:
    return f"transfers/{merchant_id}"


async def lock(conn: asyncpg.Connection, keys: Iterable[str]) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtext('escrow_settlement/' || k)) FROM unnest($1::text[]) AS k ORDER BY k",
        sorted(set(keys)),
    )


async def order_books(conn: asyncpg.Connection, keys: Iterable[str]) -> dict[str, OrderBook]:
    rows = await conn.fetch("SELECT order_key, book FROM order_books WHERE order_key = ANY($1::text[])", list(keys))
    return {r["order_key"]: order_book_of(r["book"]) for r in rows}


async def save_order_books(conn: asyncpg.Connection, books: Mapping[str, OrderBook], now: datetime) -> None:
    if not books:
        return
    rows = list(books.values())
    await conn.execute(
        """
        INSERT INTO order_books AS b (order_key, merchant_id, status, parked, book, waiting_since, updated_at)
        SELECT k, m, s, p, j::jsonb, CASE WHEN w THEN $7::timestamptz END, $7
        FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bool[]) AS u(k, m, s, p, j, w)
        ON CONFLICT (order_key) DO UPDATE SET
            status = EXCLUDED.status, parked = EXCLUDED.parked, book = EXCLUDED.book, version = b.version + 1,
            waiting_since = CASE WHEN EXCLUDED.waiting_since IS NULL THEN NULL ELSE coalesce(b.waiting_since, $7) END,
            overdue_raised = b.overdue_raised AND EXCLUDED.waiting_since IS NOT NULL,
            updated_at = $7
        """,
        [b.order.key for b in rows],
        [b.order.merchant_id for b in rows],
        [b.status.value for b in rows],
        [len(b.parked) for b in rows],
        [order_book_json(b) for b in rows],
        [waiting(b) for b in rows],
        now,
    )


@dataclass(frozen=True)
class WaitingOrder:
    order_key: str
    merchant_id: str
    book: OrderBook
    since: datetime


async def overdue_orders(conn: asyncpg.Connection, waiting_since: datetime, limit: int) -> list[WaitingOrder]:
    """Orders waiting for a fact since `waiting_since` or earlier and not raised yet, locked (others skipped)."""
    rows = await conn.fetch(
        "SELECT order_key, merchant_id, book, waiting_since FROM order_books"
        " WHERE waiting_since IS NOT NULL AND NOT overdue_raised AND waiting_since <= $1"
        " ORDER BY waiting_since LIMIT $2 FOR UPDATE SKIP LOCKED",
        waiting_since,
        limit,
    )
    return [WaitingOrder(r["order_key"], r["merchant_id"], order_book_of(r["book"]), r["waiting_since"]) for r in rows]


async def paid_awaiting_issuance(conn: asyncpg.Connection) -> dict[str, datetime]:
    """Order key -> since when it waits, of every order still awaiting its issuance (the full check looks at the
    paid ones: a payment neither issued nor refunded long after issuance's unclaimed-payment wait is stranded)."""
    rows = await conn.fetch(
        "SELECT order_key, waiting_since FROM order_books"
        " WHERE status = 'awaiting_issuance' AND waiting_since IS NOT NULL"
    )
    return {r["order_key"]: r["waiting_since"] for r in rows}


async def mark_overdue_raised(conn: asyncpg.Connection, order_keys: Iterable[str]) -> None:
    await conn.execute(
        "UPDATE order_books SET overdue_raised = true WHERE order_key = ANY($1::text[])", list(order_keys)
    )


async def transfers(
    conn: asyncpg.Connection, instruction_ids: Iterable[uuid.UUID], subjects: Iterable[str] = ()
) -> dict[uuid.UUID, TransferBook]:
    """These transfers, and every transfer of these subjects still in flight (sent, not answered)."""
    rows = await conn.fetch(
        "SELECT instruction_id, book FROM transfers"
        " WHERE instruction_id = ANY($1::uuid[]) OR (subject = ANY($2::text[]) AND status = 'sent')",
        list(instruction_ids),
        list(subjects),
    )
    return {r["instruction_id"]: transfer_book_of(r["book"]) for r in rows}


async def save_transfers(conn: asyncpg.Connection, books: Mapping[uuid.UUID, TransferBook], now: datetime) -> None:
    await conn.executemany(
        """
        INSERT INTO transfers AS t (instruction_id, subject, merchant_id, transfer, business_date, attempt, amount,
                                    status, reason, book, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11)
        ON CONFLICT (instruction_id) DO UPDATE SET
            subject = EXCLUDED.subject, business_date = EXCLUDED.business_date, attempt = EXCLUDED.attempt,
            amount = EXCLUDED.amount, status = EXCLUDED.status, reason = EXCLUDED.reason, book = EXCLUDED.book,
            version = t.version + 1, updated_at = EXCLUDED.updated_at
        """,
        [(instruction_id, *_columns(book), transfer_book_json(book), now) for instruction_id, book in books.items()],
    )


def _columns(book: TransferBook) -> tuple[object, ...]:
    """subject, merchant, transfer, business date, attempt, amount, status, reason."""
    sent, settled = book.sent, book.settled
    fact = sent or settled or book.parked[0]  # a book exists because some fact about the transfer arrived
    transfer = "payout" if isinstance(fact, PAYOUT_FACTS) else "refund"
    if sent is None:
        return None, merchant_of(fact), transfer, None, None, None, "awaiting_instruction", None
    status = "sent" if settled is None else "rejected" if isinstance(settled, REJECTIONS) else "confirmed"
    reason = settled.reason if isinstance(settled, REJECTIONS) else None
    return subject_of(sent), merchant_of(sent), transfer, sent.on, sent.attempt, sent.amount, status, reason
