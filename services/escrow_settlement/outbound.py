"""What the ledger publishes, with ids that depend only on what caused them (pure).

A batch redone after a crash yields the same ids, so the outbox (unique event_id) and every downstream inbox keep
one copy: an entry's event is uuid5(entry id), an exception's and an alert's uuid5(cause, kind, subject), an
instruction's event id is the instruction id itself (the bank deduplicates on it).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from services.escrow_settlement.ledger.facts import PayoutSent, RefundTransferSent
from services.escrow_settlement.ledger.invariants import Violation
from services.escrow_settlement.ledger.journal import JournalEntry
from shared.contracts.events import Event, Outgoing, Producer
from shared.contracts.settlement import (
    AlertSeverity,
    InvariantViolated,
    LedgerAlertRaised,
    LedgerEntryPosted,
    PayoutInstructed,
    PostingLine,
    RefundInstructed,
    SettlementExceptionRaised,
)
from shared.ids import derived_id

PRODUCER = Producer("escrow_settlement")


def _out(event: Event, event_id: uuid.UUID, now: datetime, cause: str) -> Outgoing:
    return PRODUCER.event(event, event_id, now, causation_id=cause)


def entry_posted(entry: JournalEntry, now: datetime) -> Outgoing:
    postings = tuple(PostingLine(account_kind=p.account.kind.value, owner=p.account.owner, amount=p.amount)
                     for p in entry.postings)  # fmt: skip
    event = LedgerEntryPosted(
        entry_id=entry.entry_id, cause_id=entry.cause_id, business_date=entry.on, kind=entry.kind.value,
        merchant_id=entry.merchant_id, ticket_trade_no=entry.order.ticket_trade_no if entry.order else None,
        ticket_no=entry.ticket_no, postings=postings, memo=entry.memo,
    )  # fmt: skip
    return _out(event, derived_id(entry.entry_id, "posted"), now, entry.cause_id)


def exception_id(cause_id: str, kind: str, subject: str) -> uuid.UUID:
    return derived_id(cause_id, f"exception/{kind}/{subject}")


def exception_raised(kind: str, cause_id: str, subject: str, merchant_id: str, detail: str, now: datetime) -> Outgoing:
    event = SettlementExceptionRaised(kind=kind, cause_id=cause_id, subject=subject, merchant_id=merchant_id,
                                      detail=detail)  # fmt: skip
    return _out(event, exception_id(cause_id, kind, subject), now, cause_id)


def alert_id(cause_id: str, kind: str, subject: str) -> uuid.UUID:
    return derived_id(cause_id, f"alert/{kind}/{subject}")


def alert_raised(
    cause_id: str, kind: str, subject: str, merchant_id: str, detail: str, now: datetime,
    severity: AlertSeverity = AlertSeverity.NOTICE,
) -> Outgoing:  # fmt: skip
    event = LedgerAlertRaised(kind=kind, severity=severity, subject=subject, merchant_id=merchant_id, detail=detail,
                              cause_id=cause_id)  # fmt: skip
    return _out(event, alert_id(cause_id, kind, subject), now, cause_id)


def violation_raised(cause_id: str, quarantined: str, merchant_id: str, v: Violation, now: datetime) -> Outgoing:
    event = InvariantViolated(rule=v.rule, subject=v.subject, quarantined=quarantined, merchant_id=merchant_id,
                              detail=v.detail, detected_at=now)  # fmt: skip
    return _out(event, alert_id(cause_id, f"violation/{v.rule}", v.subject), now, cause_id)


def instructed(sent: PayoutSent | RefundTransferSent, now: datetime) -> Outgoing:
    event: Event
    if isinstance(sent, PayoutSent):
        event = PayoutInstructed(
            instruction_id=sent.instruction_id, merchant_id=sent.merchant_id, business_date=sent.on,
            attempt=sent.attempt, amount=sent.amount, payable_part=sent.payable_part, fee_part=sent.fee_part,
        )  # fmt: skip
    else:
        event = RefundInstructed(
            instruction_id=sent.instruction_id, merchant_id=sent.order.merchant_id,
            ticket_trade_no=sent.order.ticket_trade_no, business_date=sent.on, attempt=sent.attempt,
            amount=sent.amount,
        )  # fmt: skip
    return _out(event, sent.instruction_id, now, str(sent.instruction_id))
