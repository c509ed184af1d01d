"""What a fact is about, for locking, checking and quarantine: the order, or the merchant for its payouts."""

from __future__ import annotations

from services.escrow_settlement.ledger.facts import Fact, PayoutConfirmed, PayoutRejected, PayoutSent

PAYOUT_FACTS = (PayoutSent, PayoutConfirmed, PayoutRejected)


def subject_of(fact: Fact) -> str:
    """The unit that is checked and quarantined: the order key, or the merchant id for its payouts."""
    return fact.merchant_id if isinstance(fact, PAYOUT_FACTS) else fact.order.key


def merchant_of(fact: Fact) -> str:
    return fact.merchant_id if isinstance(fact, PAYOUT_FACTS) else fact.order.merchant_id


def subject_merchant(subject: str) -> str:
    """The merchant of a checked subject: an order key (`merchant/trade no`) or a merchant id."""
    return subject.split("/", 1)[0]
