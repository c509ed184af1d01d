"""What a posting raises beside its entries: exceptions held for the operations team, and alerts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ExceptionKind(StrEnum):
    PAYMENT_MISMATCH = "payment_mismatch"  # paid amount != face values of the issued pickup vouchers
    DUPLICATE_PAYMENT = "duplicate_payment"
    DUPLICATE_ISSUANCE = "duplicate_issuance"
    CONFLICTING_OUTCOME = "conflicting_outcome"  # an order both issued and failed for good: the first one stands
    VOUCHER_OF_FAILED_ORDER = "voucher_of_failed_order"  # a voucher fact of an order that failed for good
    UNKNOWN_TICKET = "unknown_ticket"  # the order is issued but has no such pickup voucher
    FACE_VALUE_MISMATCH = "face_value_mismatch"  # the fact's face value != the issued voucher's
    REFUND_AMOUNTS_INVALID = "refund_amounts_invalid"  # fee + refund_amount != face value, or negative
    REFUND_CANCEL_AMOUNTS_DIFFER = "refund_cancel_amounts_differ"  # reversed what was recorded, not what it said
    REFUND_OUTSIDE_ESCROW = "refund_outside_escrow"  # §5.0 refunds only within escrow: no money moved
    TRANSFER_MISMATCH = "transfer_mismatch"  # bank outcome does not match the instruction sent
    TRANSFER_ALREADY_SETTLED = "transfer_already_settled"


@dataclass(frozen=True)
class LedgerException:
    """A fact held for the operations team instead of being guessed at."""

    kind: ExceptionKind
    cause_id: str
    subject: str  # order key or instruction id
    detail: str


class AlertKind(StrEnum):
    CLAWBACK = "clawback"  # a merchant account went into debit: the next payout nets it
    CONSUMER_OWES = "consumer_owes"  # a refund was reversed after the consumer was refunded
    TRANSFER_REJECTED = "transfer_rejected"  # the money is payable again and goes out with the next run
    TRANSFER_WITHHELD = "transfer_withheld"  # rejected too often: not retried until the operations team acts


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    subject: str
    detail: str
