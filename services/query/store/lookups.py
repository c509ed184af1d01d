"""Set-wise reads of the read models for a whole batch of queries: one round trip per kind of read, whatever the
number of queries (at 500 queries/s a round trip per query was a quarter of the service's time).

Every key carries the asking merchant's id and every read filters on it, as the single reads in `read_model` do:
another merchant's order or ticket is never loaded.
"""

from __future__ import annotations

from collections.abc import Collection

import asyncpg

from services.query.domain.views import OrderView, TicketView
from services.query.store.read_model import order_of_row, ticket_of_row
from shared.ecticket.write_off_codes import CodeKey

OrderKey = tuple[str, str]  # (merchant_id, trade_no)
CodeAsk = tuple[str, str]  # (merchant_id, TicketNo) or (merchant_id, keyed hash of a WriteOffNo)


async def orders(conn: asyncpg.Connection, keys: Collection[OrderKey]) -> dict[OrderKey, OrderView]:
    if not keys:
        return {}
    merchants, numbers = _columns(keys)
    rows = await conn.fetch(
        """
        SELECT o.* FROM unnest($1::text[], $2::text[]) AS k(merchant_id, trade_no)
        JOIN orders o ON o.merchant_id = k.merchant_id AND o.trade_no = k.trade_no
        """,
        merchants,
        numbers,
    )
    return {(r["merchant_id"], r["trade_no"]): order_of_row(r) for r in rows}


async def tickets_by_code(
    conn: asyncpg.Connection, key: CodeKey, by_number: Collection[CodeAsk], by_hash: Collection[CodeAsk]
) -> tuple[dict[CodeAsk, TicketView], dict[CodeAsk, TicketView]]:
    """The tickets asked for by TicketNo and by WriteOffNo hash, each keyed as it was asked. A row a redemption
    event made before its TicketsIssued has no sealed code yet: not found until it comes."""
    if not by_number and not by_hash:
        return {}, {}
    merchants, numbers = _columns(by_number)
    hash_merchants, hashes = _columns(by_hash)
    rows = await conn.fetch(
        """
        SELECT true AS by_number, t.* FROM unnest($1::text[], $2::text[]) AS k(merchant_id, code)
        JOIN tickets t ON t.ticket_no = k.code AND t.merchant_id = k.merchant_id
        WHERE t.write_off_sealed IS NOT NULL
        UNION ALL
        SELECT false, t.* FROM unnest($3::text[], $4::text[]) AS k(merchant_id, code)
        JOIN tickets t ON t.write_off_hash = k.code AND t.merchant_id = k.merchant_id
        WHERE t.write_off_sealed IS NOT NULL
        """,
        merchants,
        numbers,
        hash_merchants,
        hashes,
    )
    found_by_number: dict[CodeAsk, TicketView] = {}
    found_by_hash: dict[CodeAsk, TicketView] = {}
    for r in rows:
        if r["by_number"]:
            found_by_number[(r["merchant_id"], r["ticket_no"])] = ticket_of_row(r, key)
        else:
            found_by_hash[(r["merchant_id"], r["write_off_hash"])] = ticket_of_row(r, key)
    return found_by_number, found_by_hash


async def tickets_of_orders(
    conn: asyncpg.Connection, key: CodeKey, keys: Collection[OrderKey]
) -> dict[OrderKey, list[TicketView]]:
    """Every ticket of each order, in the paging order (`read_model.tickets_of`); an order without tickets is
    absent."""
    if not keys:
        return {}
    merchants, numbers = _columns(keys)
    rows = await conn.fetch(
        """
        SELECT t.* FROM unnest($1::text[], $2::text[]) AS k(merchant_id, trade_no)
        JOIN tickets t ON t.merchant_id = k.merchant_id AND t.trade_no = k.trade_no
        ORDER BY t.merchant_id, t.trade_no, t.seq NULLS LAST, t.ticket_no
        """,
        merchants,
        numbers,
    )
    found: dict[OrderKey, list[TicketView]] = {}
    for r in rows:
        found.setdefault((r["merchant_id"], r["trade_no"]), []).append(ticket_of_row(r, key))
    return found


def _columns(pairs: Collection[tuple[str, str]]) -> tuple[list[str], list[str]]:
    return [a for a, _ in pairs], [b for _, b in pairs]
