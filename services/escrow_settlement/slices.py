"""Loading the slice of the ledger a batch of facts touches, under locks, and saving what the batch did.

Locks: each order key, and `transfers/<merchant>` for any bank-transfer fact (the payout run takes the same lock),
so the in-flight instructions and in-transit balances read for the check are one consistent picture.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.escrow_settlement import book_store, journal_store, notice_store
from services.escrow_settlement.batch import BatchOutcome, Slice
from services.escrow_settlement.ledger.facts import Fact, OrderFact, TransferFactBase
from services.escrow_settlement.notice_store import ExceptionRow
from services.escrow_settlement.subjects import merchant_of, subject_merchant, subject_of


def transfer_lock(merchant_id: str) -> str:
    return f"transfers/{merchant_id}"


async def load(conn: asyncpg.Connection, facts: Sequence[Fact]) -> Slice:
    orders = {f.order.key for f in facts if isinstance(f, OrderFact)}
    transfer_facts = [f for f in facts if isinstance(f, TransferFactBase)]
    subjects = {subject_of(f) for f in transfer_facts}
    merchants = {merchant_of(f) for f in facts}
    await book_store.lock(conn, orders | {transfer_lock(merchant_of(f)) for f in transfer_facts})
    transfers = (
        await book_store.transfers(conn, {f.instruction_id for f in transfer_facts}, subjects) if transfer_facts else {}
    )
    return Slice(
        books=await book_store.order_books(conn, orders),
        transfers=transfers,
        balances=await journal_store.balances_of(conn, orders | subjects | merchants),
        quarantined=await notice_store.quarantined(conn, orders | subjects),
        journal=await journal_store.releases_of(conn, orders),
    )


async def save(conn: asyncpg.Connection, outcome: BatchOutcome, now: datetime) -> None:
    await journal_store.append(conn, outcome.entries)
    await book_store.save_order_books(conn, outcome.books, now)
    await book_store.save_transfers(conn, outcome.transfers, now)
    await notice_store.record_exceptions(conn, [ExceptionRow.of(p, m) for p, m in outcome.exceptions], now)
    for subject, violations in outcome.violations.items():
        await notice_store.quarantine(conn, subject, subject_merchant(subject), violations, now)
    await notice_store.divert(conn, outcome.diverted, now)
