"""What a fact or a violation is about, for locking, checking and quarantine: the order, or the merchant for its
payouts, or the whole ledger."""

from __future__ import annotations

from services.escrow_settlement.domain.accounts import BANK
from services.escrow_settlement.domain.facts import Fact, PayoutConfirmed, PayoutRejected, PayoutSent
from services.escrow_settlement.domain.invariants import Violation

PAYOUT_FACTS = (PayoutSent, PayoutConfirmed, PayoutRejected)
LEDGER = "ledger"  # the subject of a ledger-wide violation: quarantining it withholds every payout


def subject_of(fact: Fact) -> str:
    """The unit that is checked and quarantined: the order key, or the merchant id for its payouts."""
    return fact.merchant_id if isinstance(fact, PAYOUT_FACTS) else fact.order.key


def merchant_of(fact: Fact) -> str:
    return fact.merchant_id if isinstance(fact, PAYOUT_FACTS) else fact.order.merchant_id


def subject_merchant(subject: str) -> str:
    """The merchant of a checked subject: an order key (`merchant/trade no`) or a merchant id."""
    return subject.split("/", 1)[0]


def stopped_subject(v: Violation, entry_owners: dict[str, str]) -> str:
    """The order key or merchant id whose processing a violation stops (`ledger` when it is ledger-wide);
    `entry_owners`: entry id -> the order key or merchant id of the entry."""
    subject = v.subject.split("#", 1)[0]  # a voucher `order#ticket`
    if v.rule == "entry_balances":
        return entry_owners.get(subject, LEDGER)
    if ":" in subject:  # an account `kind:owner`
        subject = subject.split(":", 1)[1]
    return LEDGER if subject in (LEDGER, BANK) else subject
