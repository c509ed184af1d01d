"""What issuance consumes, read into facts (pure): the payment outcomes in a batch of payment events, and the
items an Issue request names. Parsing itself is shared (`parse_event`, `parse_ingest_request`); validating an
Issue request's Data is the domain's (`domain/request.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import payload_of
from shared.contracts.ingest import IngestRequest
from shared.contracts.payments import PaymentConfirmed, PaymentRejected, PaymentRejectReason

# What reaches issuance's batch handler: payment events and ingest requests.
Input = EventEnvelope | IngestRequest


@dataclass(frozen=True)
class PaymentOutcomes:
    """What payment-confirmation decided about each order in one batch, keyed by (merchant, MerchantTradeNo)."""

    confirmed: dict[tuple[str, str], PaymentConfirmed]  # the first confirmation of each order (no duplicates)
    rejected: dict[tuple[str, str], str]  # the reason of each order's last rejection


def payment_outcomes(events: Iterable[EventEnvelope]) -> PaymentOutcomes:
    confirmed: dict[tuple[str, str], PaymentConfirmed] = {}
    rejected: dict[tuple[str, str], str] = {}
    for envelope in events:
        event = payload_of(envelope)
        if isinstance(event, PaymentConfirmed) and event.duplicate_of is None:
            # (A second genuine payment of an order already paid is settlement's to refund: the first one stands.)
            confirmed.setdefault((event.merchant_id, event.merchant_trade_no), event)
        elif isinstance(event, PaymentRejected) and event.reason is not PaymentRejectReason.UNKNOWN_MERCHANT:
            # (No order of an unknown merchant can exist: recording its rejection would only store junk.)
            rejected[(event.merchant_id, event.merchant_trade_no)] = event.reason.value
    return PaymentOutcomes(confirmed, rejected)


def wanted_items(data: dict[str, object]) -> set[str]:
    """The ItemNos an Issue request's Data names, read before validation: the products to look up for it."""
    lines = data.get("TicketInfo")
    if not isinstance(lines, list):
        return set()
    return {str(line.get("ItemNo")) for line in lines if isinstance(line, dict)}
