"""Reconciliation: the state rebuilt from the log against each service's database, row by row, every difference
with its keys. Read-only, streamed with server-side cursors (one service's table never sits in memory whole).

What is compared: redemption's tickets (status, escrow released), issuance's finished orders (status 1 issued, 2
failed; orders still processing have no final event yet), settlement's account balances and transfers (status and
amount). A row the log does not explain is `extra_row`, state the log has and the database lacks is
`missing_row`, a row whose values differ is `differs`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg

from services.audit.domain.records import Finding
from services.audit.domain.shard import Shard
from services.audit.domain.verify import Verifier
from services.escrow_settlement.domain.accounts import BANK
from services.escrow_settlement.domain.facts import PayoutRejected, RefundTransferRejected
from services.escrow_settlement.domain.state import TransferBook
from services.escrow_settlement.domain.subjects import merchant_of

SCHEMAS = {"redemption": "redemption", "issuance": "issuance", "settlement": "escrow_settlement"}

Values = tuple[Any, ...]


async def run(
    dsn: str,
    verifier: Verifier,
    merchant_id: str | None,
    schemas: Mapping[str, str] = SCHEMAS,
    shard: Shard | None = None,
) -> list[Finding]:
    """`shard`: one worker of several (services/audit/workers.py) compares its merchants' rows only, and leaves the
    platform's own accounts (no merchant's) to `platform_accounts`."""
    scope = Scope(merchant_id, shard)
    found: list[Finding] = []
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(readonly=True, isolation="repeatable_read"):  # one snapshot for every table
            await _compare(conn, found, f"{schemas['redemption']}.tickets", "ticket_no",
                           "SELECT ticket_no, status, escrow_released FROM {table}", scope,
                           {no: (int(t.status), t.escrow_released) for no, t in verifier.tickets.tickets.items()
                            if scope.holds(t.merchant_id)})  # fmt: skip
            await _compare(conn, found, f"{schemas['issuance']}.orders", "order",
                           "SELECT merchant_id || '/' || ticket_trade_no, status FROM {table} WHERE status IN (1, 2)",
                           scope, _for(verifier.orders.issue_status, scope, lambda s: (s,)))  # fmt: skip
            # With a shard, the platform's own accounts (no merchant's) are out of scope: they hold every worker's
            # share, and the parent compares them summed.
            balances = {k: (v,) for k, v in rebuilt_balances(verifier).items()}
            await _compare(conn, found, f"{schemas['settlement']}.accounts", "account",
                           "SELECT kind || ':' || owner, balance FROM {table} WHERE balance <> 0", scope,
                           _for(balances, scope, lambda v: v, owner_of=_account_merchant))  # fmt: skip
            transfers = {
                str(i): _transfer(b)
                for i, b in verifier.ledger.transfers.items()
                if b.sent is not None and scope.holds(merchant_of(b.sent))
            }
            await _compare(conn, found, f"{schemas['settlement']}.transfers", "instruction_id",
                           "SELECT instruction_id::text, status, amount FROM {table} WHERE status <> 'awaiting_instruction'",
                           scope, transfers)  # fmt: skip
    finally:
        await conn.close()
    return found


async def platform_accounts(
    dsn: str, balances: Mapping[str, int], schemas: Mapping[str, str] = SCHEMAS
) -> list[Finding]:
    """The accounts of no merchant (the platform's own, such as the bank's) against the workers' summed balances
    (`kind:owner` -> balance)."""
    found: list[Finding] = []
    conn = await asyncpg.connect(dsn)
    try:
        rebuilt = {k: (v,) for k, v in balances.items() if v}
        query = "SELECT kind || ':' || owner, balance FROM {table} WHERE balance <> 0 AND merchant_id IS NULL"
        async with conn.transaction(readonly=True):  # a cursor reads only inside one
            await _compare(conn, found, f"{schemas['settlement']}.accounts", "account", query, Scope(None, None),
                           rebuilt)  # fmt: skip
    finally:
        await conn.close()
    return found


@dataclass(frozen=True)
class Scope:
    """Whose rows are compared: one merchant's (`--merchant`), one worker's merchants, or everyone's."""

    merchant_id: str | None
    shard: Shard | None

    def holds(self, merchant_id: str | None) -> bool:
        if self.merchant_id is not None and merchant_id != self.merchant_id:
            return False
        return self.shard is None or self.shard.owns(merchant_id)

    def where(self) -> tuple[list[str], list[str]]:
        """The SQL conditions and their arguments."""
        conditions, args = [], []
        if self.merchant_id is not None:
            conditions.append("merchant_id = $1")
            args.append(self.merchant_id)
        if self.shard is not None:
            conditions.append(self.shard.sql("merchant_id"))
        return conditions, args


async def _compare(
    conn: asyncpg.Connection,
    found: list[Finding],
    table: str,
    key_name: str,
    query: str,
    scope: Scope,
    rebuilt: Mapping[str, Values],
) -> None:
    seen: set[str] = set()
    async for key, values in _rows(conn, query.format(table=table), scope):
        seen.add(key)
        expected = rebuilt.get(key)
        where = f"{table} {key_name}={key}"
        if expected is None:
            found.append(Finding("reconcile", "extra_row", where, f"{values}: no event explains it", _merchant(key)))
        elif tuple(expected) != values:
            found.append(
                Finding("reconcile", "differs", where, f"database {values}, log {tuple(expected)}", _merchant(key))
            )
    for key in sorted(set(rebuilt) - seen):
        where = f"{table} {key_name}={key}"
        found.append(Finding("reconcile", "missing_row", where, f"log {tuple(rebuilt[key])}, no row", _merchant(key)))


async def _rows(conn: asyncpg.Connection, query: str, scope: Scope) -> AsyncIterator[tuple[str, Values]]:
    """Streamed with a cursor, which asyncpg opens only inside a transaction: every caller reads in one (a snapshot)."""
    conditions, args = scope.where()
    if conditions:
        joiner = " AND " if " WHERE " in query else " WHERE "
        query += joiner + " AND ".join(conditions)
    async for row in conn.cursor(query, *args, prefetch=5000):
        yield str(row[0]), tuple(row[1:])


def _for(rebuilt: Mapping[str, Any], scope: Scope, shape: Callable[[Any], Values],
         owner_of: Callable[[str], str | None] | None = None) -> dict[str, Values]:  # fmt: skip
    merchant = owner_of or _merchant
    return {k: shape(v) for k, v in rebuilt.items() if scope.holds(merchant(k))}


def _merchant(key: str) -> str | None:
    return key.split("/", 1)[0] if "/" in key else None


def rebuilt_balances(verifier: Verifier) -> dict[str, int]:
    """The replay's balances that are not zero, by `kind:owner` (the key the accounts table is compared on)."""
    return {f"{a.kind.value}:{a.owner}": v for a, v in verifier.ledger.accounts().items() if v}


def platform_balances(verifier: Verifier) -> dict[str, int]:
    """The replay's balances of the platform's own accounts (no merchant's): a worker's share of them."""
    return {k: v for k, v in rebuilt_balances(verifier).items() if _account_merchant(k) is None}


def _account_merchant(key: str) -> str | None:
    """`kind:owner` -> the owner's merchant, None for the platform's own accounts (the bank's)."""
    owner = key.split(":", 1)[1]
    return None if owner == BANK else owner.split("/", 1)[0]


def _transfer(book: TransferBook) -> Values:
    sent, settled = book.sent, book.settled
    assert sent is not None
    status = (
        "sent"
        if settled is None
        else "rejected"
        if isinstance(settled, PayoutRejected | RefundTransferRejected)
        else "confirmed"
    )
    return (status, sent.amount)
