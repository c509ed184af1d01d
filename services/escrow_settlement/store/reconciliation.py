"""Reconciliation's tables (`recon_items`, `recon_statement_days`): each side of an item written once, statuses,
closings, and the reads of the payout run, the merchant statement and the operators' commands.

Writers of items take the closing lock shared and a closing takes it exclusively, so a closing decides every item
written before it, and every item written after it sees the day closed: no item is left open by a race.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

from services.escrow_settlement.domain.accounts import AccountKind, OrderRef
from services.escrow_settlement.domain.payouts import HeldOrder
from services.escrow_settlement.domain.reconciliation import (
    Closing,
    Direction,
    HoldScope,
    Item,
    Side,
    Status,
    UnmatchedPayment,
    holds,
)
from services.escrow_settlement.domain.statement import UnmatchedLine
from services.escrow_settlement.store.books import order_books

_LOCK = "hashtext('escrow_settlement/reconciliation-closing')"
MERCHANT_KINDS = (AccountKind.MERCHANT_PAYABLE.value, AccountKind.MERCHANT_FEE_INCOME.value)


async def lock_for_items(conn: asyncpg.Connection) -> None:
    await conn.execute(f"SELECT pg_advisory_xact_lock_shared({_LOCK})")


async def lock_for_closing(conn: asyncpg.Connection) -> None:
    await conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK})")


def item_of(row: asyncpg.Record) -> Item:
    ledger = bank = None
    if row["ledger_amount"] is not None:
        ledger = Side(row["ledger_amount"], row["ledger_on"], row["ledger_cause"])
    if row["bank_amount"] is not None:
        bank = Side(row["bank_amount"], row["bank_on"], row["bank_cause"])
    return Item(
        row["item_key"],
        Direction(row["direction"]),
        row["merchant_id"],
        row["order_key"],
        ledger,
        bank,
        Status(row["status"]),
        row["resolved_at"] is not None,
    )


async def add_sides(conn: asyncpg.Connection, items: Sequence[Item], ledger: bool, now: datetime) -> list[Item]:
    """Write the ledger's (or the bank's) side of these items, one item per key (the first side written for a key
    stands: the caller sees it in the stored item it gets back)."""
    if not items:
        return []
    side = "ledger" if ledger else "bank"
    # In key order: two writers upserting overlapping items (an instance's bank lines, another's payments) then
    # lock their rows in one order and queue, where row by row in arrival order they could deadlock.
    items = sorted(items, key=lambda i: i.key)
    sides = [(i.ledger if ledger else i.bank) for i in items]
    assert all(s is not None for s in sides), f"every item carries its {side} side"
    rows = await conn.fetch(
        f"""
        INSERT INTO recon_items AS i (item_key, direction, merchant_id, order_key, {side}_amount, {side}_on,
                                      {side}_cause, status, updated_at)
        SELECT k, d, m, o, a, n, c, 'open', $8
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::date[], $7::text[])
             AS u(k, d, m, o, a, n, c)
        ON CONFLICT (item_key) DO UPDATE SET
            merchant_id = coalesce(i.merchant_id, EXCLUDED.merchant_id),
            order_key = coalesce(i.order_key, EXCLUDED.order_key),
            {side}_amount = coalesce(i.{side}_amount, EXCLUDED.{side}_amount),
            {side}_on = CASE WHEN i.{side}_amount IS NULL THEN EXCLUDED.{side}_on ELSE i.{side}_on END,
            {side}_cause = CASE WHEN i.{side}_amount IS NULL THEN EXCLUDED.{side}_cause ELSE i.{side}_cause END,
            updated_at = $8
        RETURNING *
        """,
        [i.key for i in items],
        [i.direction.value for i in items],
        [i.merchant_id for i in items],
        [i.order_key for i in items],
        [s.amount for s in sides if s is not None],
        [s.on for s in sides if s is not None],
        [s.cause_id for s in sides if s is not None],
        now,
    )
    return [item_of(r) for r in rows]


async def save_statuses(conn: asyncpg.Connection, items: Sequence[Item], now: datetime) -> None:
    if items:
        await conn.execute(
            "UPDATE recon_items i SET status = u.s, updated_at = $3"
            " FROM unnest($1::text[], $2::text[]) AS u(k, s) WHERE i.item_key = u.k",
            [i.key for i in items],
            [i.status.value for i in items],
            now,
        )


async def closed_among(conn: asyncpg.Connection, days: Iterable[date]) -> frozenset[date]:
    rows = await conn.fetch(
        "SELECT statement_date FROM recon_statement_days WHERE statement_date = ANY($1::date[])", list(set(days))
    )
    return frozenset(r["statement_date"] for r in rows)


async def record_closing(
    conn: asyncpg.Connection, said: Closing, closed_at: datetime, cause_id: str, now: datetime
) -> bool:
    """Keep the bank's closing of a day; False if that day was closed already (a second closing changes nothing)."""
    recorded = await conn.fetchval(
        "INSERT INTO recon_statement_days (statement_date, lines, credits_total, debits_total, closed_at, cause_id,"
        " recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING true",
        said.statement_date,
        said.lines,
        said.credits_total,
        said.debits_total,
        closed_at,
        cause_id,
        now,
    )
    return bool(recorded)


async def received_on(conn: asyncpg.Connection, day: date) -> Closing:
    """The bank lines settlement holds for a statement day, counted as the bank's closing counts them."""
    row = await conn.fetchrow(
        """
        SELECT count(*) AS lines,
               coalesce(sum(bank_amount) FILTER (WHERE direction = 'credit'), 0)::bigint AS credits,
               coalesce(sum(bank_amount) FILTER (WHERE direction = 'debit'), 0)::bigint AS debits
        FROM recon_items WHERE bank_on = $1 AND bank_amount IS NOT NULL
        """,
        day,
    )
    return Closing(day, row["lines"], row["credits"], row["debits"])


async def decided_by_closing(conn: asyncpg.Connection, day: date) -> list[Item]:
    """The open items a closing of `day` decides: its bank lines without a ledger side, and the ledger sides
    expected on it without a bank line."""
    rows = await conn.fetch(
        "SELECT * FROM recon_items WHERE status = 'open' AND bank_on = $1 AND ledger_amount IS NULL"
        " UNION ALL"
        " SELECT * FROM recon_items WHERE status = 'open' AND ledger_on = $1 AND bank_amount IS NULL",
        day,
    )
    return [item_of(r) for r in rows]


async def unmatched_payments(conn: asyncpg.Connection, merchant_id: str) -> list[UnmatchedPayment]:
    rows = await conn.fetch(
        "SELECT item_key, order_key, ledger_cause, status FROM recon_items"
        " WHERE merchant_id = $1 AND status <> 'matched' AND resolved_at IS NULL AND ledger_amount IS NOT NULL"
        " AND direction = 'credit'",
        merchant_id,
    )
    return [UnmatchedPayment(r["item_key"], r["order_key"], r["ledger_cause"], Status(r["status"])) for r in rows]


async def held_orders(conn: asyncpg.Connection, merchant_id: str, day: date) -> dict[str, HeldOrder]:
    """The merchant's orders whose money may not leave the bank as of `day` (domain/reconciliation.py `holds`),
    each with what it released to the merchant up to the end of `day` (zero when only its refunds are held)."""
    unmatched = await unmatched_payments(conn, merchant_id)
    if not unmatched:
        return {}
    keys = sorted({u.order_key for u in unmatched})
    duplicates = {p.cause_id for book in (await order_books(conn, keys)).values() for p in book.extra_payments}
    scoped = holds(unmatched, duplicates)
    released = await released_to_merchant(
        conn, [k for k, (scope, _) in scoped.items() if scope is HoldScope.ORDER], day
    )
    return {
        key: HeldOrder(OrderRef(*key.split("/", 1)), *released.get(key, (0, 0)), reason=reason)
        for key, (scope, reason) in scoped.items()
    }


async def released_to_merchant(
    conn: asyncpg.Connection, order_keys: Sequence[str], day: date
) -> dict[str, tuple[int, int]]:
    """Per order: what its entries dated up to `day` put on the merchant's payable and fee-income accounts
    (natural: positive = owed to the merchant)."""
    if not order_keys:
        return {}
    rows = await conn.fetch(
        """
        SELECT e.order_key, p.kind, (-sum(p.amount))::bigint AS amount
        FROM journal_entries e JOIN postings p ON p.entry_id = e.entry_id
        WHERE e.order_key = ANY($1::text[]) AND p.kind = ANY($2::text[]) AND p.business_date <= $3
        GROUP BY e.order_key, p.kind
        """,
        list(order_keys),
        list(MERCHANT_KINDS),
        day,
    )
    released: dict[str, tuple[int, int]] = {}
    for r in rows:
        payable, fee = released.get(r["order_key"], (0, 0))
        if r["kind"] == AccountKind.MERCHANT_PAYABLE.value:
            payable += r["amount"]
        else:
            fee += r["amount"]
        released[r["order_key"]] = (payable, fee)
    return released


async def refunds_owed(conn: asyncpg.Connection, order_keys: Sequence[str], day: date) -> dict[str, int]:
    """Per order: its consumer refund payable at the end of `day` (natural)."""
    rows = await conn.fetch(
        "SELECT owner, (-sum(amount))::bigint AS amount FROM postings WHERE kind = $1 AND owner = ANY($2::text[])"
        " AND business_date <= $3 GROUP BY owner",
        AccountKind.CONSUMER_REFUND_PAYABLE.value,
        list(order_keys),
        day,
    )
    return {r["owner"]: r["amount"] for r in rows}


@dataclass(frozen=True)
class Listed:
    item: Item
    updated_at: datetime
    resolved_note: str | None


async def listing(
    conn: asyncpg.Connection, merchant_id: str | None, day: date | None, everything: bool
) -> list[Listed]:
    """Items for operations: by default those not matched and not resolved; `day`: on that statement day (or
    expected on it); `everything`: matched and resolved ones too."""
    rows = await conn.fetch(
        """
        SELECT * FROM recon_items
        WHERE ($1::text IS NULL OR merchant_id = $1)
          AND ($2::date IS NULL OR bank_on = $2 OR ledger_on = $2)
          AND ($3 OR (status <> 'matched' AND resolved_at IS NULL))
        ORDER BY coalesce(bank_on, ledger_on), item_key
        """,
        merchant_id,
        day,
        everything,
    )
    return [Listed(item_of(r), r["updated_at"], r["resolved_note"]) for r in rows]


async def unmatched_of(conn: asyncpg.Connection, merchant_id: str, day: date) -> list[Item]:
    """The merchant's items up to `day` (either side) that are not matched and not resolved, for its statement."""
    rows = await conn.fetch(
        "SELECT * FROM recon_items WHERE merchant_id = $1 AND status <> 'matched' AND resolved_at IS NULL"
        " AND (bank_on <= $2 OR ledger_on <= $2) ORDER BY item_key",
        merchant_id,
        day,
    )
    return [item_of(r) for r in rows]


async def resolve(conn: asyncpg.Connection, key: str, note: str, now: datetime) -> Item | None:
    """Record an operator's decision on an item that is not matched; None if there is no such item to resolve."""
    row = await conn.fetchrow(
        "UPDATE recon_items SET resolved_at = $3, resolved_note = $2, updated_at = $3"
        " WHERE item_key = $1 AND status <> 'matched' AND resolved_at IS NULL RETURNING *",
        key,
        note,
        now,
    )
    return None if row is None else item_of(row)


async def day_summary(conn: asyncpg.Connection, day: date) -> dict[str, object]:
    """A statement day at a glance: the bank's closing (if any), what settlement holds of it, and its differences."""
    closing = await conn.fetchrow("SELECT * FROM recon_statement_days WHERE statement_date = $1", day)
    received = await received_on(conn, day)
    rows = await conn.fetch(
        "SELECT status, resolved_at IS NOT NULL AS resolved, count(*) AS n FROM recon_items"
        " WHERE bank_on = $1 OR ledger_on = $1 GROUP BY 1, 2",
        day,
    )
    counts = {(r["status"], r["resolved"]): r["n"] for r in rows}
    differences = {s.value: counts.get((s.value, False), 0) for s in Status if s not in (Status.MATCHED, Status.OPEN)}
    return {
        "statement_date": day.isoformat(),
        "closed": closing is not None,
        "bank_closing": None
        if closing is None
        else {k: closing[k] for k in ("lines", "credits_total", "debits_total")},
        "received": {
            "lines": received.lines,
            "credits_total": received.credits_total,
            "debits_total": received.debits_total,
        },
        "matched": sum(n for (s, _), n in counts.items() if s == Status.MATCHED.value),
        "open": counts.get((Status.OPEN.value, False), 0),
        "differences": differences,
        "unresolved_differences": sum(differences.values()),
        "resolved": sum(n for (s, resolved), n in counts.items() if resolved and s != Status.MATCHED.value),
    }


async def statement_part(
    conn: asyncpg.Connection, merchant_id: str, day: date
) -> tuple[tuple[UnmatchedLine, ...], int]:
    """The merchant statement's reconciliation rows: items up to `day` not matched, and the money held back."""
    lines = tuple(
        UnmatchedLine(
            i.key,
            i.status.value,
            i.order_key.split("/", 1)[1] if i.order_key else None,
            i.ledger.amount if i.ledger else 0,
            i.bank.amount if i.bank else 0,
        )
        for i in await unmatched_of(conn, merchant_id, day)
    )
    held = await held_orders(conn, merchant_id, day)
    refunds = await refunds_owed(conn, sorted(held), day)
    return lines, sum(h.payable + h.fee + max(refunds.get(key, 0), 0) for key, h in held.items())
