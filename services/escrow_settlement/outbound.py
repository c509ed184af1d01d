"""What the ledger publishes, and keeps for operations, with ids that depend only on what caused them (pure).

A batch redone after a crash yields the same ids, so the outbox (unique event_id) and every downstream inbox keep
one copy: an entry's event is uuid5(entry id), an exception's and an alert's uuid5(cause, kind, subject), an
instruction's event id is the instruction id itself (the bank deduplicates on it). The alert and exception rows
(`alerts`, `ledger_exceptions`) carry the same ids, so a repeat is kept once there too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.escrow_settlement.domain.batch import BatchOutcome
from services.escrow_settlement.domain.facts import PayoutSent, RefundTransferSent
from services.escrow_settlement.domain.invariants import Violation
from services.escrow_settlement.domain.journal import JournalEntry
from services.escrow_settlement.domain.notices import LedgerException
from services.escrow_settlement.domain.subjects import subject_merchant
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


@dataclass(frozen=True)
class AlertRow:
    """An alert as operations keep it (`alerts`), beside its LedgerAlertRaised or InvariantViolated event."""

    alert_id: uuid.UUID
    kind: str
    severity: str
    subject: str
    merchant_id: str
    detail: str
    cause_id: str


@dataclass(frozen=True)
class ExceptionRow:
    """An exception as operations keep it (`ledger_exceptions`), beside its SettlementExceptionRaised event."""

    kind: str
    cause_id: str
    subject: str
    merchant_id: str
    detail: str

    @classmethod
    def of(cls, problem: LedgerException, merchant_id: str) -> ExceptionRow:
        return cls(problem.kind.value, problem.cause_id, problem.subject, merchant_id, problem.detail)


def _out(event: Event, event_id: uuid.UUID, now: datetime, cause: str) -> Outgoing:
    return PRODUCER.event(event, event_id, now, causation_id=cause)


def entry_posted(entry: JournalEntry, now: datetime) -> Outgoing:
    postings = tuple(
        PostingLine(account_kind=p.account.kind.value, owner=p.account.owner, amount=p.amount) for p in entry.postings
    )
    event = LedgerEntryPosted(
        entry_id=entry.entry_id,
        cause_id=entry.cause_id,
        business_date=entry.on,
        kind=entry.kind.value,
        merchant_id=entry.merchant_id,
        ticket_trade_no=entry.order.ticket_trade_no if entry.order else None,
        ticket_no=entry.ticket_no,
        postings=postings,
        memo=entry.memo,
    )
    return _out(event, derived_id(entry.entry_id, "posted"), now, entry.cause_id)


def exception_id(cause_id: str, kind: str, subject: str) -> uuid.UUID:
    return derived_id(cause_id, f"exception/{kind}/{subject}")


def exception_raised(kind: str, cause_id: str, subject: str, merchant_id: str, detail: str, now: datetime) -> Outgoing:
    event = SettlementExceptionRaised(
        kind=kind, cause_id=cause_id, subject=subject, merchant_id=merchant_id, detail=detail
    )
    return _out(event, exception_id(cause_id, kind, subject), now, cause_id)


def alert_id(cause_id: str, kind: str, subject: str) -> uuid.UUID:
    return derived_id(cause_id, f"alert/{kind}/{subject}")


def alert_raised(
    cause_id: str,
    kind: str,
    subject: str,
    merchant_id: str,
    detail: str,
    now: datetime,
    severity: AlertSeverity = AlertSeverity.NOTICE,
) -> Outgoing:
    event = LedgerAlertRaised(
        kind=kind, severity=severity, subject=subject, merchant_id=merchant_id, detail=detail, cause_id=cause_id
    )
    return _out(event, alert_id(cause_id, kind, subject), now, cause_id)


def violation_raised(cause_id: str, quarantined: str, merchant_id: str, v: Violation, now: datetime) -> Outgoing:
    event = InvariantViolated(
        rule=v.rule,
        subject=v.subject,
        quarantined=quarantined,
        merchant_id=merchant_id,
        detail=v.detail,
        detected_at=now,
    )
    return _out(event, alert_id(cause_id, f"violation/{v.rule}", v.subject), now, cause_id)


def instructed(sent: PayoutSent | RefundTransferSent, now: datetime) -> Outgoing:
    event: Event
    if isinstance(sent, PayoutSent):
        event = PayoutInstructed(
            instruction_id=sent.instruction_id,
            merchant_id=sent.merchant_id,
            business_date=sent.on,
            attempt=sent.attempt,
            amount=sent.amount,
            payable_part=sent.payable_part,
            fee_part=sent.fee_part,
        )
    else:
        event = RefundInstructed(
            instruction_id=sent.instruction_id,
            merchant_id=sent.order.merchant_id,
            ticket_trade_no=sent.order.ticket_trade_no,
            business_date=sent.on,
            attempt=sent.attempt,
            amount=sent.amount,
        )
    return _out(event, sent.instruction_id, now, str(sent.instruction_id))


def published(outcome: BatchOutcome, now: datetime) -> tuple[list[Outgoing], list[AlertRow]]:
    """The events of a posted batch, and the alert rows kept for operations."""
    events = [entry_posted(e, now) for e in outcome.entries]
    events += [exception_raised(p.kind.value, p.cause_id, p.subject, m, p.detail, now) for p, m in outcome.exceptions]
    alerts = []
    for alert, cause, merchant in outcome.alerts:
        events.append(alert_raised(cause, alert.kind.value, alert.subject, merchant, alert.detail, now))
        row_id = alert_id(cause, alert.kind.value, alert.subject)
        alerts.append(
            AlertRow(row_id, alert.kind.value, AlertSeverity.NOTICE, alert.subject, merchant, alert.detail, cause)
        )
    first_cause: dict[str, str] = {}
    for subject, fact in outcome.diverted:
        first_cause.setdefault(subject, fact.cause_id)
    for subject, violations in sorted(outcome.violations.items()):
        merchant, cause = subject_merchant(subject), first_cause.get(subject, subject)
        for v in violations:
            events.append(violation_raised(cause, subject, merchant, v, now))
            alerts.append(violation_row(cause, subject, merchant, v))
    return events, alerts


def violation_row(cause_id: str, quarantined: str, merchant_id: str, v: Violation) -> AlertRow:
    row_id = alert_id(cause_id, f"violation/{v.rule}", v.subject)
    detail = f"{v.subject}: {v.detail}"
    return AlertRow(row_id, f"invariant:{v.rule}", AlertSeverity.CRITICAL, quarantined, merchant_id, detail, cause_id)
