"""The verification of a whole log (pure): records in, in the order of `TOPIC_ORDER`, a report out.

The topics are read one after the other so every fact's causes come first (a payment before its issue, an issue
before its tickets' redemptions, the ledger's inputs before the entries settlement recorded from them); within a
topic, partition by partition in offset order, the order each consumer saw. Memory is what the state needs (the
tickets, the order books, the chain's arrays), never the log itself.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from services.audit.domain.chain_check import ChainCheck
from services.audit.domain.ledger import LedgerReplay
from services.audit.domain.orders import OrderChecks
from services.audit.domain.records import Finding, Findings, Record
from services.audit.domain.shard import Shard
from services.audit.domain.tickets import TicketReplay
from shared import chain
from shared.contracts.envelope import EventEnvelope
from shared.contracts.envelope_read import read_event
from shared.contracts.events import Event, UnknownEventType
from shared.contracts.issuance import IssueFailed, TicketsIssued
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.redemption import RedemptionRejected, TicketEvent
from shared.contracts.settlement import LedgerEntryPosted, PayoutInstructed, RefundInstructed, TransferOutcome
from shared.topics import (
    AUDIT_CHECKPOINTS,
    AUDIT_INPUTS,
    BANK_STATEMENTS,
    ISSUANCE_EVENTS,
    PAYMENT_EVENTS,
    REDEMPTION_EVENTS,
    REJECTIONS,
    SETTLEMENT_EVENTS,
    SETTLEMENT_INSTRUCTIONS,
)

TOPIC_ORDER = (
    AUDIT_INPUTS,  # first: each decision's signed input is known when the decision is read
    PAYMENT_EVENTS,
    ISSUANCE_EVENTS,
    REDEMPTION_EVENTS,
    SETTLEMENT_INSTRUCTIONS,
    BANK_STATEMENTS,
    REJECTIONS,
    SETTLEMENT_EVENTS,
    AUDIT_CHECKPOINTS,  # last: a checkpoint is judged against the whole chain
)


@dataclass(frozen=True)
class Options:
    cutoff: time = time(0)
    allow_unchained: bool = False
    merchant_id: str | None = None  # the domain checks of this merchant only (the chain is always whole)
    period_ms: tuple[int | None, int | None] = (None, None)  # report findings about records in [from, to) only
    grace: timedelta = timedelta(hours=1)
    chains: frozenset[str] | None = None  # audit only these producers' chains; every other record is skipped
    rederive: bool = True  # False: the chain and its checkpoints only (no decision re-derived, no ledger)
    shard: Shard | None = None  # one of several workers: the decisions of its merchants only (domain/shard.py)


class InputsCheck(Protocol):
    """The archive of signed inputs, checked with the merchants' keys (services/audit/inputs.py, given by the CLI
    when the auditor has the keys): each archived input, then each decision against its input."""

    def on_archived(self, record: Record) -> None: ...

    def on_decision(self, envelope: EventEnvelope, event: Event, where: str) -> None: ...


@dataclass
class Verifier:
    options: Options = field(default_factory=Options)
    findings: Findings = field(default_factory=Findings)
    events: Counter[str] = field(default_factory=Counter)
    records: int = 0
    checkpoints: list[tuple[Record, chain.Checkpoint]] = field(default_factory=list)
    log_end: datetime | None = None
    inputs: InputsCheck | None = None  # None: archived inputs are only chained, not re-verified (no merchant keys)

    def __post_init__(self) -> None:
        self.findings.period_ms = self.options.period_ms
        shard = self.options.shard
        self.keeps_chain = shard is None or shard.keeps_chain
        # A worker that does not keep the chain still feeds it its own records, to skip what the chain rejects
        # exactly as a whole run does; what it finds there, the first worker reports, except altered bytes: each
        # worker hashes (and reports) only its own records, so the first does not hash the whole log alone.
        chain_findings = self.findings if self.keeps_chain else Findings()
        self.chain = ChainCheck(chain_findings, self.options.allow_unchained, self.options.chains,
                                altered_to=self.findings)  # fmt: skip
        self.tickets = TicketReplay(self.findings, self.options.cutoff)
        self.ledger = LedgerReplay(self.findings, self.options.cutoff)
        self.orders = OrderChecks(self.findings, self.options.grace)

    def feed(self, record: Record) -> None:
        self.records += 1
        self.findings.current_ms = record.timestamp_ms
        if record.topic.startswith(AUDIT_CHECKPOINTS):
            if self.keeps_chain:
                try:
                    self.checkpoints.append((record, chain.Checkpoint.from_bytes(record.value)))
                except chain.MalformedLink as exc:
                    self.findings.add(Finding("chain", "bad_checkpoint", record.where, str(exc)))
            return
        if self.options.shard is not None and not self.options.shard.owns_key(record.key):
            if self.keeps_chain:
                self.chain.feed(record, check_bytes=False)  # another worker re-derives its decisions
            else:
                self.chain.note(record)
            return
        if record.topic.startswith(AUDIT_INPUTS):
            if self.chain.feed(record) and self.options.rederive and self.inputs is not None:
                self.inputs.on_archived(record)
            return
        if not self.chain.feed(record) or not self.options.rederive:
            return  # the same event again (a relay restart): consumers drop it, so does the replay
        try:
            envelope, event = read_event(record.value)
        except (ValidationError, UnknownEventType, ValueError) as exc:
            self.findings.add(Finding("events", "unreadable", record.where, str(exc).splitlines()[0]))
            return
        self.events[envelope.event_type] += 1
        if (record.key or b"") != envelope.key.encode() or envelope.key != event.key():
            # Every event is published under the key its content gives (shared/contracts/events.wrap): filed under
            # another, it was not published by the platform, and it would be replayed against the wrong merchant.
            detail = f"{envelope.event_type} filed under key {record.key!r}; its content's key is {event.key()!r}"
            self.findings.add(Finding("events", "misfiled", record.where, detail))
            return
        at = datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
        self.log_end = at if self.log_end is None else max(self.log_end, at)
        if self._wanted(envelope.key):
            self._dispatch(envelope, event, record.where)

    def finish(self, keys: dict[str, Ed25519PublicKey], *, from_start: bool = True) -> dict[str, int]:
        """Runs the end-of-log checks (`from_start`: the log was read from its beginning, so every chain must
        start at #1); returns, per service, the highest seq a valid checkpoint signs."""
        self.findings.current_ms = None
        signed = self.chain.finish(self.checkpoints, keys, 1 if from_start else 0) if self.keeps_chain else {}
        self.ledger.finish()
        self.orders.finish(self.ledger.books, self.log_end)
        return signed

    def _wanted(self, key: str) -> bool:
        wanted = self.options.merchant_id
        return wanted is None or key == wanted or key.startswith(wanted + "/")

    def _dispatch(self, envelope: EventEnvelope, event: Event, where: str) -> None:
        if self.inputs is not None:
            self.inputs.on_decision(envelope, event, where)
        if isinstance(event, PaymentConfirmed):
            self.orders.on_payment(event)
            self.ledger.on_event(envelope, event)
        elif isinstance(event, TicketsIssued):
            self.orders.on_issued(event, where)
            self.tickets.on_issued(event, where)
            self.ledger.on_event(envelope, event)
        elif isinstance(event, IssueFailed):
            self.orders.on_failed(event)
            self.ledger.on_event(envelope, event)
        elif isinstance(event, TicketEvent | RedemptionRejected):
            self.tickets.on_ticket_event(event, where)
            self.ledger.on_event(envelope, event)
        elif isinstance(event, PayoutInstructed | RefundInstructed | TransferOutcome):
            self.ledger.on_event(envelope, event)
        elif isinstance(event, LedgerEntryPosted):
            self.ledger.on_recorded(event, where)
        else:
            self.ledger.on_event(envelope, event)  # IssueFailed and the rest: the ledger's inbound decides
