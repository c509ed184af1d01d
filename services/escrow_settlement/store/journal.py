"""The journal tables: appending entries and postings, and the balances, summaries, statements and the whole
ledger read back from them.

Balances are never written here: the postings trigger moves them (once per statement and account), so they
always equal the journal. It locks the statement's accounts in sorted order first, so writers that touch the same
accounts queue instead of deadlocking, as long as each transaction writes its postings in one statement (`append`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

import asyncpg

from services.escrow_settlement.domain.accounts import BANK, Account, AccountKind, OrderRef
from services.escrow_settlement.domain.checks import Releases
from services.escrow_settlement.domain.journal import RELEASES, REVERSALS, EntryKind, JournalEntry, Posting
from services.escrow_settlement.domain.state import LedgerState
from services.escrow_settlement.domain.statement import ACCOUNTS, Statement, build
from services.escrow_settlement.store import reconciliation
from services.escrow_settlement.store.codec import order_book_of, transfer_book_of


def account_merchant(account: Account) -> str | None:
    """Merchant accounts are owned by the merchant id, order accounts by the order key `merchant/trade no`."""
    return None if account.owner == BANK else account.owner.split("/", 1)[0]


async def append(conn: asyncpg.Connection, entries: Sequence[JournalEntry]) -> None:
    if not entries:
        return
    await open_accounts(conn, {p.account for e in entries for p in e.postings})
    await conn.execute(
        """
        INSERT INTO journal_entries (entry_id, cause_id, business_date, kind, merchant_id, order_key, ticket_no, memo)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::date[], $4::text[], $5::text[], $6::text[], $7::text[],
                             $8::text[])
        """,
        [e.entry_id for e in entries],
        [e.cause_id for e in entries],
        [e.on for e in entries],
        [e.kind.value for e in entries],
        [e.merchant_id for e in entries],
        [e.order.key if e.order else None for e in entries],
        [e.ticket_no for e in entries],
        [e.memo for e in entries],
    )
    lines = [(e, n, p) for e in entries for n, p in enumerate(e.postings)]
    await conn.execute(
        """
        INSERT INTO postings (entry_id, line, kind, owner, amount, business_date, entry_kind)
        SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::text[], $4::text[], $5::bigint[], $6::date[], $7::text[])
        """,
        [e.entry_id for e, _, _ in lines],
        [n for _, n, _ in lines],
        [p.account.kind.value for _, _, p in lines],
        [p.account.owner for _, _, p in lines],
        [p.amount for _, _, p in lines],
        [e.on for e, _, _ in lines],
        [e.kind.value for e, _, _ in lines],
    )


async def open_accounts(conn: asyncpg.Connection, wanted: Iterable[Account]) -> None:
    """Adds the accounts not there yet (in key order, as every writer does).

    Only those: ON CONFLICT alone checks each row against its newest version and waits for the transaction that
    wrote it. The bank's cash account and a merchant's are in most batches, and another instance's balance update
    of them is such a version: each batch waited there for the other's commit before doing any of its own work
    (docs/decisions.md, "Co-partitioned topics read by one instance"). Now it waits only where it must, at the
    postings' balance update.
    """
    accounts = sorted(set(wanted))
    await conn.execute(
        """
        INSERT INTO accounts (kind, owner, merchant_id)
        SELECT n.* FROM unnest($1::text[], $2::text[], $3::text[]) AS n(kind, owner, merchant_id)
        WHERE NOT EXISTS (SELECT FROM accounts a WHERE a.kind = n.kind AND a.owner = n.owner)
        ON CONFLICT DO NOTHING
        """,
        [a.kind.value for a in accounts],
        [a.owner for a in accounts],
        [account_merchant(a) for a in accounts],
    )


async def balances_of(conn: asyncpg.Connection, owners: Iterable[str]) -> dict[Account, int]:
    """Current raw balances of every account owned by these order keys / merchant ids."""
    rows = await conn.fetch("SELECT kind, owner, balance FROM accounts WHERE owner = ANY($1::text[])", list(owners))
    return {Account(AccountKind(r["kind"]), r["owner"]): r["balance"] for r in rows}


async def releases_of(conn: asyncpg.Connection, order_keys: Iterable[str]) -> Releases:
    """Per voucher of these orders: the journal's releases minus reversals."""
    rows = await conn.fetch(
        """
        SELECT order_key, ticket_no,
               count(*) FILTER (WHERE kind = ANY($2::text[])) - count(*) FILTER (WHERE kind = ANY($3::text[])) AS net
        FROM journal_entries WHERE order_key = ANY($1::text[]) AND ticket_no IS NOT NULL
        GROUP BY order_key, ticket_no
        """,
        list(order_keys),
        [k.value for k in RELEASES],
        [k.value for k in REVERSALS],
    )
    return Releases({(r["order_key"], r["ticket_no"]): r["net"] for r in rows})


async def later_movements(
    conn: asyncpg.Connection, merchant_id: str, kinds: Sequence[AccountKind], after: date, transfers: Sequence[str]
) -> dict[Account, int]:
    """Per account of the merchant: postings dated after `after`, bank transfers excepted (see payout_run)."""
    rows = await conn.fetch(
        """
        SELECT p.kind, p.owner, sum(p.amount) AS amount
        FROM accounts a JOIN postings p ON p.kind = a.kind AND p.owner = a.owner
        WHERE a.merchant_id = $1 AND a.kind = ANY($2::text[]) AND p.business_date > $3
          AND p.entry_kind <> ALL($4::text[])
        GROUP BY p.kind, p.owner
        """,
        merchant_id,
        [k.value for k in kinds],
        after,
        list(transfers),
    )
    return {Account(AccountKind(r["kind"]), r["owner"]): r["amount"] for r in rows}


async def statement_of(conn: asyncpg.Connection, merchant_id: str, day: date) -> Statement:
    """The merchant's statement for a business day: balances before it, the day's postings in recording order, and
    what the bank's statement does not match (store/reconciliation.py)."""
    kinds = [k.value for k in ACCOUNTS]
    opening = await conn.fetch(
        "SELECT kind, sum(amount) AS amount FROM postings"
        " WHERE owner = $1 AND kind = ANY($2::text[]) AND business_date < $3 GROUP BY kind",
        merchant_id,
        kinds,
        day,
    )
    rows = await conn.fetch(
        """
        SELECT e.entry_id, e.cause_id, e.kind AS entry_kind, p.kind AS account, p.amount,
               split_part(e.order_key, '/', 2) AS ticket_trade_no, e.ticket_no
        FROM postings p JOIN journal_entries e ON e.entry_id = p.entry_id
        WHERE p.owner = $1 AND p.kind = ANY($2::text[]) AND p.business_date = $3
        ORDER BY e.seq, p.line
        """,
        merchant_id,
        kinds,
        day,
    )
    movements = [{**dict(r), "ticket_trade_no": r["ticket_trade_no"] or None} for r in rows]
    unmatched, held = await reconciliation.statement_part(conn, merchant_id, day)
    return build(merchant_id, day, {r["kind"]: r["amount"] for r in opening}, movements, unmatched, held)


async def whole_ledger(conn: asyncpg.Connection) -> tuple[LedgerState, list[JournalEntry]]:
    """Every book, transfer, balance and entry, for the full check (run it in one REPEATABLE READ snapshot)."""
    books = {
        r["order_key"]: order_book_of(r["book"]) for r in await conn.fetch("SELECT order_key, book FROM order_books")
    }
    transfers = {
        r["instruction_id"]: transfer_book_of(r["book"])
        for r in await conn.fetch("SELECT instruction_id, book FROM transfers")
    }
    balances = {
        Account(AccountKind(r["kind"]), r["owner"]): r["balance"]
        for r in await conn.fetch("SELECT kind, owner, balance FROM accounts WHERE balance <> 0")
    }
    postings: defaultdict[uuid.UUID, list[Posting]] = defaultdict(list)
    for r in await conn.fetch("SELECT entry_id, kind, owner, amount FROM postings ORDER BY entry_id, line"):
        postings[r["entry_id"]].append(Posting(Account(AccountKind(r["kind"]), r["owner"]), r["amount"]))
    journal = [
        JournalEntry(
            entry_id=r["entry_id"],
            cause_id=r["cause_id"],
            on=r["business_date"],
            kind=EntryKind(r["kind"]),
            postings=tuple(postings[r["entry_id"]]),
            merchant_id=r["merchant_id"],
            order=OrderRef(*r["order_key"].split("/", 1)) if r["order_key"] else None,
            ticket_no=r["ticket_no"],
            memo=r["memo"],
        )
        for r in await conn.fetch("SELECT * FROM journal_entries ORDER BY seq")
    ]
    return LedgerState(orders=books, transfers=transfers, balances=balances), journal
