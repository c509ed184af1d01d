"""The declarative topic catalog: the only place topics are defined. `python -m shared.setup` creates them."""

from __future__ import annotations

from dataclasses import dataclass

FOREVER = -1
DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    retention_ms: int
    compacted: bool
    key: str
    purpose: str

    def config(self) -> dict[str, str]:
        cfg = {"retention.ms": str(self.retention_ms)}
        cfg["cleanup.policy"] = "compact" if self.compacted else "delete"
        return cfg


INGEST_PAYMENTS = "ecticket.ingest.payments.v1"
INGEST_REQUESTS = "ecticket.ingest.requests.v1"
INGEST_REPLIES = "ecticket.ingest.replies.v1"
PAYMENT_EVENTS = "ecticket.payments.events.v1"
ISSUANCE_EVENTS = "ecticket.issuance.events.v1"
REDEMPTION_EVENTS = "ecticket.redemption.events.v1"
SETTLEMENT_EVENTS = "ecticket.settlement.events.v1"
SETTLEMENT_INSTRUCTIONS = "ecticket.settlement.instructions.v1"
BANK_STATEMENTS = "ecticket.bank.statements.v1"
REJECTIONS = "ecticket.platform.rejections.v1"
MERCHANT_CONFIG = "ecticket.config.merchants.v1"
PRODUCT_CATALOG = "ecticket.issuance.products.v1"
TEST_CLOCKS = "ecticket.platform.test-clocks.v1"
AUDIT_CHECKPOINTS = "ecticket.audit.checkpoints.v1"
AUDIT_INPUTS = "ecticket.audit.inputs.v1"

CATALOG: tuple[Topic, ...] = (
    Topic(INGEST_PAYMENTS, 6, 30 * DAY_MS, False, "MerchantID", "AIO payment results from merchants"),
    Topic(INGEST_REQUESTS, 6, 30 * DAY_MS, False, "MerchantID", "ECTicket requests (Issue, WriteOff, Refund)"),
    Topic(INGEST_REPLIES, 6, 30 * DAY_MS, False, "MerchantID", "one ECTicket reply per request"),
    Topic(PAYMENT_EVENTS, 6, FOREVER, False, "merchant/order", "PaymentConfirmed, PaymentRejected"),
    Topic(ISSUANCE_EVENTS, 6, FOREVER, False, "merchant/order", "TicketsIssued, IssueFailed"),
    Topic(REDEMPTION_EVENTS, 6, FOREVER, False, "merchant/order", "ticket usage-state changes"),
    Topic(SETTLEMENT_EVENTS, 6, FOREVER, False, "merchant/order", "ledger postings, exceptions, alerts"),
    Topic(SETTLEMENT_INSTRUCTIONS, 3, FOREVER, False, "merchant", "payout and refund instructions to the bank"),
    # One partition: a day's lines and its closing share the key, and every day is read in order.
    Topic(BANK_STATEMENTS, 1, FOREVER, False, "statement date", "the escrow bank's statement lines and closings"),
    Topic(REJECTIONS, 3, FOREVER, False, "source topic", "messages that could not be parsed or validated"),
    Topic(MERCHANT_CONFIG, 1, FOREVER, True, "MerchantID", "merchant configuration, secrets sealed"),
    Topic(PRODUCT_CATALOG, 1, FOREVER, True, "MerchantID/ItemNo", "product catalogue, owned by issuance"),
    Topic(TEST_CLOCKS, 1, FOREVER, True, "MerchantID", "sandbox test-clock offsets"),
    # Kept as long as the events they sign; one partition, so every service's checkpoints read in order.
    Topic(AUDIT_CHECKPOINTS, 1, FOREVER, False, "service", "signed checkpoints of each service's event chain"),
    # The merchant-signed inputs behind the decisions, byte for byte, kept as long as the events (the ingestion
    # topics expire): written by the deciding service through its outbox, so chained like its events.
    Topic(AUDIT_INPUTS, 6, FOREVER, False, "MerchantID/source topic/message id", "signed requests and payment results"),
)

BY_NAME = {topic.name: topic for topic in CATALOG}


def is_ingestion(topic: str) -> bool:
    """Written by merchants (anyone who reaches the broker), not by the platform's services."""
    return topic.startswith("ecticket.ingest.")
