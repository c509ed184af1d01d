"""A batch's order and ticket queries answered together: the read models are loaded set-wise (`store.lookups`: one
round trip for the tickets asked by code, one for the orders, one for the tickets of the orders answered whole),
then each answer is built from what was loaded. Only the paged operations (QueryOrderInfo, QueryTicketStatus by
order) and QueryRefundInfo's bank transfers still read per query: a page and its counts, a transfer list.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.query.domain import answers
from services.query.domain.queries import OrderQuery, TicketQuery
from services.query.domain.views import OrderView, TicketView
from services.query.outbound import Answer
from services.query.store import lookups, read_model, refund_transfers
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.write_off_codes import CodeKey

WHOLE_ORDER = frozenset({"QueryIssueResult", "QueryPrintData", "QueryRefundInfo"})  # every ticket, not a page


@dataclass(frozen=True)
class Ask:
    merchant_id: str  # the asking merchant: only its own orders and tickets are read
    query: OrderQuery | TicketQuery


async def answer_all(conn: asyncpg.Connection, key: CodeKey, asks: Sequence[Ask]) -> list[Answer | None]:
    """Each ask's answer, in order; None where its order or ticket is not in the read model (yet)."""
    by_number = {
        (a.merchant_id, a.query.ticket_no) for a in asks if isinstance(a.query, TicketQuery) and a.query.ticket_no
    }
    by_hash = {
        (a.merchant_id, _hash_of(a.query, key))
        for a in asks
        if isinstance(a.query, TicketQuery) and not a.query.ticket_no
    }
    tickets_by_number, tickets_by_hash = await lookups.tickets_by_code(conn, key, by_number, by_hash)
    tickets = [_ticket_of(a, key, tickets_by_number, tickets_by_hash) for a in asks]
    order_keys = {(a.merchant_id, a.query.trade_no) for a in asks if isinstance(a.query, OrderQuery)}
    order_keys |= {(a.merchant_id, t.trade_no) for a, t in zip(asks, tickets, strict=True) if t is not None}
    orders = await lookups.orders(conn, order_keys)
    whole = {
        (a.merchant_id, a.query.trade_no)
        for a in asks
        if isinstance(a.query, OrderQuery) and a.query.operation in WHOLE_ORDER
    }
    tickets_of = await lookups.tickets_of_orders(conn, key, whole & orders.keys())
    out: list[Answer | None] = []
    for ask, ticket in zip(asks, tickets, strict=True):
        if isinstance(ask.query, TicketQuery):
            if ticket is None:
                out.append(None)
            else:
                order = orders.get((ask.merchant_id, ticket.trade_no))
                out.append(Answer(RtnCode.SUCCESS, answers.one_ticket(order, ticket)))
            continue
        order_key = (ask.merchant_id, ask.query.trade_no)
        order = orders.get(order_key)
        if order is None or order.free != ask.query.free:
            out.append(None)  # another merchant's order is answered exactly like a missing one
            continue
        out.append(await _order_answer(conn, key, ask.merchant_id, ask.query, order, tickets_of.get(order_key, [])))
    return out


async def _order_answer(
    conn: asyncpg.Connection,
    key: CodeKey,
    merchant_id: str,
    query: OrderQuery,
    order: OrderView,
    tickets: list[TicketView],
) -> Answer:
    if query.operation == "QueryIssueResult":
        return Answer(RtnCode.SUCCESS, answers.issue_result(order, tickets))
    if query.operation == "QueryPrintData":
        return Answer(RtnCode.SUCCESS, answers.print_data(order, tickets))
    if query.operation == "QueryRefundInfo":
        transfers = await refund_transfers.of_order(conn, merchant_id, order.ticket_trade_no or order.trade_no)
        return Answer(RtnCode.SUCCESS, answers.refund_info(order, tickets, transfers))
    assert query.page is not None, "QueryOrderInfo and QueryTicketStatus by order are paged"
    page = query.page
    paged = await read_model.tickets_of(conn, key, merchant_id, order.trade_no, page.offset, page.size)
    counts = await read_model.counts_of(conn, merchant_id, order.trade_no)
    if query.operation == "QueryOrderInfo":
        return Answer(RtnCode.SUCCESS, answers.order_info(order, counts, page, paged))
    return Answer(RtnCode.SUCCESS, answers.ticket_page(order, page, counts.total, paged))


def _hash_of(query: TicketQuery, key: CodeKey) -> str:
    return key.digest(query.write_off_no or "")


def _ticket_of(
    ask: Ask,
    key: CodeKey,
    by_number: dict[lookups.CodeAsk, TicketView],
    by_hash: dict[lookups.CodeAsk, TicketView],
) -> TicketView | None:
    """The ticket a ticket query asked for, by TicketNo when it gave one (then WriteOffNo is not looked at)."""
    query = ask.query
    if not isinstance(query, TicketQuery):
        return None
    if query.ticket_no:
        return by_number.get((ask.merchant_id, query.ticket_no))
    return by_hash.get((ask.merchant_id, _hash_of(query, key)))
