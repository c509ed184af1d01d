"""Events of escrow settlement (the ledger) and of the escrow bank it instructs.

SETTLEMENT_EVENTS carries what the ledger did: every journal entry, every exception held for the operations team,
every alert and invariant violation. SETTLEMENT_INSTRUCTIONS is the conversation with the escrow bank, keyed by
merchant: the instructions, and the bank's answer to each (so an instruction and its outcome share a partition and
stay in order). Amounts are whole NT$; posting amounts are signed (debit positive, credit negative).
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.common import NTD, order_key
from shared.contracts.events import Event, register
from shared.topics import SETTLEMENT_EVENTS, SETTLEMENT_INSTRUCTIONS


class PostingLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    account_kind: str
    owner: str  # order key, merchant id, or the bank
    amount: int  # debit positive, credit negative


@register
class LedgerEntryPosted(Event):
    """One journal entry (its postings sum to zero; a `considered` entry has none: the fact moved no money)."""

    event_type = "LedgerEntryPosted"
    topic = SETTLEMENT_EVENTS

    entry_id: uuid.UUID
    cause_id: str  # event id of the fact that caused it (or the instruction id)
    business_date: date
    kind: str
    merchant_id: str
    ticket_trade_no: str | None
    ticket_no: str | None
    postings: tuple[PostingLine, ...]
    memo: str

    def key(self) -> str:
        return order_key(self.merchant_id, self.ticket_trade_no) if self.ticket_trade_no else self.merchant_id


@register
class SettlementExceptionRaised(Event):
    """A fact held for the operations team instead of being guessed at (mismatched payment, unknown ticket...)."""

    event_type = "SettlementExceptionRaised"
    topic = SETTLEMENT_EVENTS

    kind: str
    cause_id: str
    subject: str  # order key or instruction id
    merchant_id: str
    detail: str

    def key(self) -> str:
        return self.subject


class AlertSeverity(StrEnum):
    NOTICE = "notice"  # a notable money situation the rules handle (claw-back, rejected transfer)
    CRITICAL = "critical"  # processing of the subject stopped: an invariant failed


@register
class LedgerAlertRaised(Event):
    event_type = "LedgerAlertRaised"
    topic = SETTLEMENT_EVENTS

    kind: str
    severity: AlertSeverity
    subject: str
    merchant_id: str
    detail: str
    cause_id: str

    def key(self) -> str:
        return self.subject


@register
class InvariantViolated(Event):
    """A ledger invariant failed for `subject`; its further facts are quarantined until operations release it."""

    event_type = "InvariantViolated"
    topic = SETTLEMENT_EVENTS

    rule: str
    subject: str  # what the rule was checked on (order key, account, voucher)
    quarantined: str  # the order key or merchant whose processing stopped
    merchant_id: str
    detail: str
    detected_at: AwareDatetime

    def key(self) -> str:
        return self.quarantined


class TransferKind(StrEnum):
    PAYOUT = "payout"  # to the merchant
    REFUND = "refund"  # back to the consumer of one order


@register
class PayoutInstructed(Event):
    """Pay `amount` to the merchant. The bank deduplicates by `instruction_id`; it is never reused after a failure."""

    event_type = "PayoutInstructed"
    topic = SETTLEMENT_INSTRUCTIONS

    instruction_id: uuid.UUID
    merchant_id: str
    business_date: date
    attempt: int
    amount: int = Field(gt=0)
    payable_part: int  # released face values (may be negative: a netted claw-back)
    fee_part: int  # refund handling fees

    def key(self) -> str:
        return self.merchant_id


@register
class RefundInstructed(Event):
    """Pay `amount` back to the consumer who paid order `ticket_trade_no`."""

    event_type = "RefundInstructed"
    topic = SETTLEMENT_INSTRUCTIONS

    instruction_id: uuid.UUID
    merchant_id: str
    ticket_trade_no: str
    business_date: date
    attempt: int
    amount: int = Field(gt=0)

    def key(self) -> str:
        return self.merchant_id


class TransferOutcome(Event):
    """The bank's answer to one instruction (not registered: abstract)."""

    topic = SETTLEMENT_INSTRUCTIONS

    instruction_id: uuid.UUID
    transfer: TransferKind
    merchant_id: str
    ticket_trade_no: str | None  # the order, for a consumer refund
    amount: NTD
    at: AwareDatetime

    def key(self) -> str:
        return self.merchant_id


@register
class TransferConfirmed(TransferOutcome):
    event_type = "TransferConfirmed"


@register
class TransferRejected(TransferOutcome):
    event_type = "TransferRejected"

    reason: str
