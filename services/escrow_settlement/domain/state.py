"""The ledger state: per-order books (payment, issued vouchers, each voucher's money, parked facts), per-instruction
transfer books, and account balances. Partitioned by order and by instruction, so a shell can load one slice.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from services.escrow_settlement.domain.accounts import Account, OrderRef, natural
from services.escrow_settlement.domain.evolve import evolve
from services.escrow_settlement.domain.facts import (
    OrderFailed,
    OrderIssued,
    PaymentReceived,
    TicketFact,
    TransferOutcome,
    TransferSent,
)
from services.escrow_settlement.domain.journal import JournalEntry


class Holder(StrEnum):
    """Where a pickup voucher's face value is."""

    ESCROW = "escrow"
    MERCHANT_BY_WRITE_OFF = "merchant_by_write_off"
    MERCHANT_BY_EXPIRY = "merchant_by_expiry"
    CONSUMER = "consumer"  # refunded: refund_amount to the consumer, fee to the merchant


@dataclass(frozen=True)
class TicketBook:
    face: int
    holder: Holder = Holder.ESCROW
    fee: int = 0  # of the outstanding refund, when holder is CONSUMER
    refund_amount: int = 0


class OrderStatus(StrEnum):
    AWAITING_ISSUANCE = "awaiting_issuance"
    AWAITING_PAYMENT = "awaiting_payment"
    READY = "ready"  # issued, and paid exactly the pickup vouchers' face values (or nothing to pay)
    MISMATCH = "mismatch"  # held as an exception: nothing is released from this order
    FAILED = "failed"  # failed for good (never issued): every payment of it is refunded in full


@dataclass(frozen=True)
class OrderBook:
    order: OrderRef
    payment: PaymentReceived | None = None
    extra_payments: tuple[PaymentReceived, ...] = ()  # duplicates: each refunded in full
    issued: OrderIssued | None = None
    failed: OrderFailed | None = None  # never together with `issued`: the first of the two stands
    tickets: Mapping[str, TicketBook] = field(default_factory=dict)  # pickup vouchers only
    parked: tuple[TicketFact, ...] = ()  # waiting for a prerequisite; retried after every change
    held: tuple[TicketFact, ...] = ()  # can never apply as stated: raised as an exception, kept for operations
    seen: frozenset[str] = frozenset()

    @property
    def status(self) -> OrderStatus:
        if self.failed is not None:
            return OrderStatus.FAILED
        if self.issued is None:
            return OrderStatus.AWAITING_ISSUANCE
        total = self.issued.pickup_total
        if self.payment is None:
            return OrderStatus.READY if total == 0 else OrderStatus.AWAITING_PAYMENT
        return OrderStatus.READY if self.payment.amount == total else OrderStatus.MISMATCH

    @property
    def paid(self) -> int:
        return 0 if self.payment is None else self.payment.amount

    @property
    def refunded_in_full(self) -> int:
        """Payments that go back to the consumer whole: a failed order's payment, and every duplicate."""
        failed = self.paid if self.status is OrderStatus.FAILED else 0
        return failed + sum(p.amount for p in self.extra_payments)

    @property
    def owed_back(self) -> int:
        """Everything the order's consumer is owed: those payments, and the refunds of its vouchers (fee deducted)."""
        return self.refunded_in_full + sum(t.refund_amount for t in self.tickets.values())

    def with_ticket(self, ticket_no: str, ticket: TicketBook) -> OrderBook:
        return evolve(self, tickets={**self.tickets, ticket_no: ticket})


@dataclass(frozen=True)
class TransferBook:
    sent: TransferSent | None = None
    settled: TransferOutcome | None = None
    parked: tuple[TransferOutcome, ...] = ()
    seen: frozenset[str] = frozenset()


@dataclass(frozen=True)
class LedgerState:
    orders: Mapping[str, OrderBook] = field(default_factory=dict)
    transfers: Mapping[uuid.UUID, TransferBook] = field(default_factory=dict)
    balances: Mapping[Account, int] = field(default_factory=dict)  # raw: debit positive

    def order_book(self, order: OrderRef) -> OrderBook:
        return self.orders.get(order.key) or OrderBook(order)

    def transfer_book(self, instruction_id: uuid.UUID) -> TransferBook:
        return self.transfers.get(instruction_id) or TransferBook()

    def with_order(self, book: OrderBook) -> LedgerState:
        return evolve(self, orders={**self.orders, book.order.key: book})

    def with_transfer(self, instruction_id: uuid.UUID, book: TransferBook) -> LedgerState:
        return evolve(self, transfers={**self.transfers, instruction_id: book})

    def with_entries(self, entries: Iterable[JournalEntry]) -> LedgerState:
        balances = dict(self.balances)
        for entry in entries:
            for posting in entry.postings:
                balances[posting.account] = balances.get(posting.account, 0) + posting.amount
        return evolve(self, balances=balances)

    def held_in(self, account: Account) -> int:
        """The natural balance: how much is on the account's normal side."""
        return natural(account, self.balances.get(account, 0))
