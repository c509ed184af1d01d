"""The ledger's input facts: what the shell builds from consumed events (and from its own payout runs).

Every fact names the event that caused it (`cause_id`, the envelope's event_id) and its Asia/Taipei business
date (`on`, computed by the shell with the settlement cut-off, see payouts.settlement_day). Journal entries take
both from the fact, never from the moment the fact happened to arrive, so any arrival order gives the same ledger.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from functools import cached_property

from services.escrow_settlement.domain.accounts import OrderRef
from shared.contracts.common import TicketType


@dataclass(frozen=True, kw_only=True)
class FactBase:
    cause_id: str
    on: date


@dataclass(frozen=True)
class IssuedVoucher:
    ticket_no: str
    ticket_type: TicketType
    face_value: int


@dataclass(frozen=True)
class TicketRef:
    order: OrderRef
    ticket_no: str
    ticket_type: TicketType
    face_value: int  # as the redemption event states it; checked against the issued voucher


@dataclass(frozen=True, kw_only=True)
class PaymentReceived(FactBase):
    """PaymentConfirmed. `duplicate_of`: set on a second genuine payment of an order already paid (the TradeNo of
    the payment that stands): it is refunded in full whatever arrives first."""

    order: OrderRef
    amount: int
    duplicate_of: str | None = None


@dataclass(frozen=True, kw_only=True)
class OrderFailed(FactBase):
    """IssueFailed(final) of a paid order: it will never be issued, so every payment of it is refunded in full."""

    order: OrderRef
    reason: str


@dataclass(frozen=True, kw_only=True)
class OrderIssued(FactBase):
    order: OrderRef
    tickets: tuple[IssuedVoucher, ...]
    escrow_expiry_date: date | None

    @cached_property  # read by every OrderBook.status, several times per fact posted; a fact never changes
    def pickup_total(self) -> int:
        return sum(t.face_value for t in self.tickets if t.ticket_type is TicketType.PICKUP)


@dataclass(frozen=True, kw_only=True)
class TicketFactBase(FactBase):
    ticket: TicketRef
    within_escrow: bool

    @property
    def order(self) -> OrderRef:
        return self.ticket.order


@dataclass(frozen=True, kw_only=True)
class TicketRedeemed(TicketFactBase):
    """TicketWrittenOff."""


@dataclass(frozen=True, kw_only=True)
class RedemptionCancelled(TicketFactBase):
    """WriteOffCancelled (its within_escrow equals the write-off's)."""


@dataclass(frozen=True, kw_only=True)
class TicketReturned(TicketFactBase):
    """TicketRefunded: fee to the merchant, refund_amount to the consumer."""

    fee: int
    refund_amount: int


@dataclass(frozen=True, kw_only=True)
class ReturnCancelled(TicketFactBase):
    """RefundCancelled: carries the fee and amount of the refund it reverses."""

    fee: int
    refund_amount: int


@dataclass(frozen=True, kw_only=True)
class EscrowExpired(TicketFactBase):
    """TicketExpired(kind=escrow): an unused pickup voucher's escrow ended; its face value goes to the merchant."""

    within_escrow: bool = False


@dataclass(frozen=True, kw_only=True)
class UsageExpired(TicketFactBase):
    """TicketExpired(kind=usage): a gift voucher's usage period ended; no money."""

    within_escrow: bool = False


@dataclass(frozen=True, kw_only=True)
class TransferFactBase(FactBase):
    instruction_id: uuid.UUID


@dataclass(frozen=True, kw_only=True)
class PayoutSent(TransferFactBase):
    """A payout instruction was published: `payable_part` + `fee_part` (either may be negative: a netted claw-back)."""

    merchant_id: str
    attempt: int  # n-th instruction for this merchant on this business day (`on`), from 0
    payable_part: int
    fee_part: int

    @property
    def amount(self) -> int:
        return self.payable_part + self.fee_part


@dataclass(frozen=True, kw_only=True)
class PayoutConfirmed(TransferFactBase):
    merchant_id: str
    amount: int


@dataclass(frozen=True, kw_only=True)
class PayoutRejected(TransferFactBase):
    merchant_id: str
    amount: int
    reason: str


@dataclass(frozen=True, kw_only=True)
class RefundTransferSent(TransferFactBase):
    order: OrderRef
    attempt: int  # n-th instruction for this order on this business day (`on`), from 0
    amount: int


@dataclass(frozen=True, kw_only=True)
class RefundTransferConfirmed(TransferFactBase):
    order: OrderRef
    amount: int


@dataclass(frozen=True, kw_only=True)
class RefundTransferRejected(TransferFactBase):
    order: OrderRef
    amount: int
    reason: str


TicketFact = TicketRedeemed | RedemptionCancelled | TicketReturned | ReturnCancelled | EscrowExpired | UsageExpired
OrderFact = PaymentReceived | OrderIssued | OrderFailed | TicketFact
TransferSent = PayoutSent | RefundTransferSent
TransferOutcome = PayoutConfirmed | PayoutRejected | RefundTransferConfirmed | RefundTransferRejected
TransferFact = TransferSent | TransferOutcome
Fact = OrderFact | TransferFact
