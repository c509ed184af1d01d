"""Domain events -> what the notification service learns from them (pure): an order's notify targets, or a
notification to send."""

from __future__ import annotations

from dataclasses import dataclass

from services.notification.domain.notices import Notice, refund_notice, use_status_notice
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import payload_of
from shared.contracts.issuance import TicketsIssued
from shared.contracts.redemption import TicketEvent
from shared.contracts.settlement import TransferConfirmed


@dataclass(frozen=True)
class OrderTargets:
    """Where an order's notifications go, as its Issue request said (None: the merchant's configured URL)."""

    merchant_id: str
    ticket_trade_no: str
    platform_id: str | None
    refund_notify_url: str | None
    use_status_notify_url: str | None


# The events that say something to a merchant; the rest (IssueFailed, payouts, ...) are not even parsed.
TOLD = frozenset(
    {"TicketsIssued", "TicketWrittenOff", "WriteOffCancelled", "TicketRefunded", "RefundCancelled", "TicketExpired"}
    | {"TransferConfirmed"}
)


def fact_of(envelope: EventEnvelope) -> OrderTargets | Notice | None:
    if envelope.event_type not in TOLD:
        return None
    event = payload_of(envelope)
    if isinstance(event, TicketsIssued):
        details = event.details
        return OrderTargets(
            event.merchant_id,
            event.ticket_trade_no,
            event.platform_id,
            details.refund_notify_url or None,  # an empty string in the request means "not given"
            details.use_status_notify_url or None,
        )
    if isinstance(event, TicketEvent):
        return use_status_notice(envelope.event_id, event)
    if isinstance(event, TransferConfirmed):
        return refund_notice(envelope.event_id, event)
    return None
