"""Payments against orders (pure): every issued pickup order is backed by exactly one confirmed one-time payment of
its amount, and every confirmed payment ends as tickets or as a refund.

The payments topic is read before the issuance topic, so an issue's payment is known when it is checked. What a
payment ended as is settlement's order book (the rebuilt ledger): issued and paid exactly, failed for good (refunded
in full), or a duplicate (refunded in full). Only an order still waiting at the end of the log is left: a finding,
unless the payment is younger than `grace` at the log's end (it may still be issued or fail in time).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.audit.domain.coldmap import ColdMap
from services.audit.domain.records import Finding, Findings
from services.escrow_settlement.domain.state import OrderBook, OrderStatus
from shared.contracts.common import TicketType
from shared.contracts.issuance import IssueFailed, TicketsIssued
from shared.contracts.payments import PaymentConfirmed


@dataclass
class OrderChecks:
    findings: Findings
    grace: timedelta = timedelta(hours=1)
    confirmed: dict[str, tuple[str, int]] = field(default_factory=dict)  # order key -> first payment (trade, amount)
    payment_seen_at: dict[str, datetime] = field(default_factory=dict)
    issue_status: dict[str, int] = field(default_factory=dict)  # order key -> ECTicket status: 1 issued, 2 failed
    issued: int = 0

    def on_payment(self, event: PaymentConfirmed) -> None:
        if event.duplicate_of is None:
            key = sys.intern(event.key())  # the ledger's maps share the string (ledger.py)
            if key in self.confirmed:
                detail = f"a second payment {event.trade_no} of NT${event.amount} was not marked a duplicate"
                self._find("second_payment", key, detail, event.merchant_id)
                return
            self.confirmed[key] = (event.trade_no, event.amount)
            self.payment_seen_at[key] = event.payment_date

    def on_failed(self, event: IssueFailed) -> None:
        if event.final and event.merchant_trade_no is not None:
            self.issue_status.setdefault(sys.intern(event.key()), 2)  # the first of issued and failed stands

    def on_issued(self, event: TicketsIssued, where: str) -> None:
        self.issued += 1
        key = sys.intern(event.key())
        self.issue_status.setdefault(key, 1)
        pickup = sum(t.face_value for t in event.tickets if t.ticket_type is TicketType.PICKUP)
        paid = self.confirmed.get(key)
        if pickup == 0 and event.payment is None:
            return
        if event.payment is None or paid is None:
            detail = f"NT${pickup} of pickup vouchers issued without a confirmed payment"
            self._find("issued_unpaid", where, detail, event.merchant_id)
            return
        if (event.payment.trade_no, event.payment.amount) != paid or paid[1] != pickup:
            detail = (
                f"issued against payment {event.payment.trade_no} NT${event.payment.amount} for NT${pickup} of pickup"
                f" vouchers; the confirmed payment is {paid[0]} NT${paid[1]}"
            )
            self._find("payment_mismatch", where, detail, event.merchant_id)

    def finish(self, books: ColdMap[str, OrderBook], log_end: datetime | None) -> None:
        for key in sorted(books):  # one book at a time, left cold: warming each would compress another
            book = books.peek(key)
            status = book.status
            if status is OrderStatus.MISMATCH:
                detail = f"paid NT${book.paid}, issued NT${book.issued.pickup_total if book.issued else 0}"
                self._find("payment_mismatch", key, detail, book.order.merchant_id)
            elif status is OrderStatus.AWAITING_PAYMENT:
                self._find("issued_unpaid", key, "issued, no payment ever confirmed", book.order.merchant_id)
            elif status is OrderStatus.AWAITING_ISSUANCE and book.payment is not None:
                since = self.payment_seen_at.get(key)
                if log_end is not None and since is not None and log_end - since < self.grace:
                    continue  # in flight: the unclaimed-payment wait has not run out
                detail = f"NT${book.paid} paid, neither issued nor refunded by the end of the log"
                self._find("payment_unresolved", key, detail, book.order.merchant_id)

    def _find(self, kind: str, where: str, detail: str, merchant_id: str) -> None:
        self.findings.add(Finding("orders", kind, where, detail, merchant_id))
