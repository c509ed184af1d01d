"""The declarative topic catalog: the only place topics are defined. `python -m shared.setup` creates them."""

from __future__ import annotations

import re
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


# A sender's own door: the requests of one merchant, or of one platform for its merchants, on a topic of its own that
# only that sender's Kafka principal may write (`python -m shared.admin merchant-connect`), named after the catalog
# topic and the sender's id: `ecticket.ingest.requests.v1.2000132`. A request on it must be sent by that sender
# (shared/ecticket/authentication.py), so a stolen HashKey is not enough to act from another merchant's connection;
# its replies go to the sender's own reply topic, `ecticket.ingest.replies.v1.2000132`, which only it may read.
SENDER_TOPIC_BASES = frozenset({INGEST_REQUESTS, INGEST_REPLIES})
SENDER_TOPIC_PARTITIONS = 3
_SENDER_ID = re.compile(r"[A-Za-z0-9]{1,10}")


def sender_topic(base: str, sender: str) -> str:
    if base not in SENDER_TOPIC_BASES or not _SENDER_ID.fullmatch(sender):
        raise ValueError(f"no sender topic for {sender!r} on {base}")
    return f"{base}.{sender}"


def sender_catalog_entry(base: str, sender: str) -> Topic:
    """The sender's topic, kept as long as the catalog topic it is a door to."""
    shared = BY_NAME[base]
    name = sender_topic(base, sender)
    return Topic(
        name, SENDER_TOPIC_PARTITIONS, shared.retention_ms, False, shared.key, f"{shared.purpose}, {sender}'s own"
    )


def reply_topic(door: str | None) -> str:
    """Where the reply to a request goes: the sender's own reply topic when the request came through its door."""
    return INGEST_REPLIES if door is None else sender_topic(INGEST_REPLIES, door)


def sender_of(topic: str) -> str | None:
    """The MerchantID or PlatformID whose own topic `topic` is; None for every other topic."""
    base, _, sender = topic.rpartition(".")
    return sender if base in SENDER_TOPIC_BASES and _SENDER_ID.fullmatch(sender) else None


def base_of(topic: str) -> str:
    """The catalog topic a sender's topic is a door to (the topic itself for a catalog topic)."""
    return topic.rpartition(".")[0] if sender_of(topic) is not None else topic


def subscription_pattern(topics: list[str] | frozenset[str]) -> str:
    """A regex matching `topics` and, for those that have them, every sender's own topic."""
    names = [re.escape(t) + (r"(?:\.[A-Za-z0-9]{1,10})?" if t in SENDER_TOPIC_BASES else "") for t in sorted(topics)]
    return "^(?:" + "|".join(names) + ")$"


def is_ingestion(topic: str) -> bool:
    """Written by merchants (anyone who reaches the broker), not by the platform's services."""
    return topic.startswith("ecticket.ingest.")
