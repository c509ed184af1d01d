"""What operations must look at: settlement exceptions, alerts, quarantines, payment alerts and dead letters."""

from __future__ import annotations

from datetime import datetime

from services.ops.domain.state import PartitionState
from shared.contracts.payments import PaymentAlertRaised
from shared.contracts.rejections import DeadLetterResolved, MessageRejected
from shared.contracts.settlement import InvariantViolated, LedgerAlertRaised, SettlementExceptionRaised

Raised = SettlementExceptionRaised | LedgerAlertRaised | InvariantViolated | PaymentAlertRaised

COUNTER = {
    SettlementExceptionRaised: "settlement_exceptions",
    LedgerAlertRaised: "ledger_alerts",
    InvariantViolated: "quarantines",
    PaymentAlertRaised: "payment_alerts",
}

LETTERS_KEPT = 100  # open dead letters listed per partition state (every one is counted)


def on_raised(state: PartitionState, event: Raised, at: datetime) -> None:
    state.add(event.merchant_id, COUNTER[type(event)])
    if isinstance(event, InvariantViolated):
        kind, subject, severity = event.rule, event.quarantined, "critical"
    elif isinstance(event, LedgerAlertRaised | PaymentAlertRaised):
        kind, severity = event.kind.value if isinstance(event, PaymentAlertRaised) else event.kind, event.severity.value
        subject = (
            event.subject if isinstance(event, LedgerAlertRaised) else f"{event.merchant_id}/{event.merchant_trade_no}"
        )
    else:
        kind, subject, severity = event.kind, event.subject, "exception"
    state.notice(
        {
            "at": at.isoformat(),
            "type": event.event_type,
            "kind": kind,
            "severity": severity,
            "merchant_id": event.merchant_id,
            "subject": subject,
            "detail": event.detail[:300],
        }
    )


def letter_id(consumer: str, topic: str, partition: int, offset: int) -> str:
    return f"{consumer}/{topic}/{partition}/{offset}"


def on_letter(state: PartitionState, event: MessageRejected | DeadLetterResolved) -> None:
    ident = letter_id(event.consumer, event.source_topic, event.source_partition, event.source_offset)
    if isinstance(event, MessageRejected):
        state.add(None, "dead_letters")
        state.add(None, f"dead_letters:{event.consumer}")
        state.open_letters[ident] = {
            "consumer": event.consumer,
            "source": f"{event.source_topic}/{event.source_partition}/{event.source_offset}",
            "stage": event.stage,
            "touches_money": event.touches_money,
            "error": event.error[:300],
            "at": event.rejected_at.isoformat(),
        }
        # The newest ones only: a flood of hostile messages leaves tens of thousands open, and the partition's state
        # is one changelog record (a 1 MB one crashed the app in the fuzz campaign). The count is `dead_letters`.
        while len(state.open_letters) > LETTERS_KEPT:
            del state.open_letters[next(iter(state.open_letters))]
    else:
        state.add(None, "dead_letters_resolved")
        state.open_letters.pop(ident, None)
