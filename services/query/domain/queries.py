"""The queries the service answers, as the core sees them (pure data, already validated by inbound.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from services.query.domain.paging import Page


@dataclass(frozen=True)
class OrderQuery:
    """QueryIssueResult, QueryPrintData, QueryOrderInfo, QueryRefundInfo, QueryTicketStatus by order number."""

    operation: str
    trade_no: str
    free: bool  # the number was given as FreeTradeNo
    page: Page | None = None  # the ticket page asked for, for the operations that page


@dataclass(frozen=True)
class TicketQuery:
    """QueryTicketStatus for one ticket, by TicketNo or WriteOffNo (TicketNo preferred when both are given)."""

    ticket_no: str | None
    write_off_no: str | None


@dataclass(frozen=True)
class EscrowDayQuery:
    pass


@dataclass(frozen=True)
class ItemQuery:
    item_no: str


@dataclass(frozen=True)
class ItemPageQuery:
    page: Page
    listed: bool | None  # ItemStatus: 1 listed, 0 delisted, 2 (None) all
    item_nos: tuple[str, ...]  # empty: every product of the merchant


@dataclass(frozen=True)
class OrderDetailQuery:
    report_type: int  # 1: one line per order, 2: one line per ticket
    first_day: date  # issue dates, Asia/Taipei, both included
    last_day: date


Query = OrderQuery | TicketQuery | EscrowDayQuery | ItemQuery | ItemPageQuery | OrderDetailQuery
