"""Every ticket's history, re-derived with redemption's own state machine (pure).

Each ticket starts as `tickets_from_issued` makes it from its TicketsIssued. Each recorded ticket event is turned
back into the command that must have caused it (a write-off, a cancel, a refund, an expiry; its request id,
operator and store are in the event) and `decide` runs on the ticket at the event's own instant `at`. The decision
must give exactly the recorded payload: a double write-off, a refund after a write-off or after escrow, a cancel
outside its window or of something that did not happen, an expiry before it is due, a wrong fee or amount, all
come out of `decide` as something else (a refusal, other numbers) and are reported with their keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from services.audit.domain.coldmap import ColdMap
from services.audit.domain.records import Finding, Findings
from services.redemption.domain.commands import (
    Command,
    ExpireEscrow,
    ExpireUsage,
    Refund,
    WriteOff,
    WriteOffAction,
)
from services.redemption.domain.decide import decide
from services.redemption.domain.ticket import Ticket, tickets_from_issued
from shared.contracts.events import Event
from shared.contracts.issuance import TicketsIssued
from shared.contracts.redemption import (
    ExpiryKind,
    RedemptionRejected,
    RefundCancelled,
    TicketEvent,
    TicketExpired,
    TicketRefunded,
    TicketWrittenOff,
    WriteOffCancelled,
)


@dataclass
class TicketReplay:
    findings: Findings
    cutoff: time
    tickets: ColdMap[str, Ticket] = field(default_factory=ColdMap)
    rederived: int = 0
    refusals: int = 0

    def on_issued(self, event: TicketsIssued, where: str) -> None:
        try:
            made = tickets_from_issued(event)
        except ValueError as exc:
            self._find("illegal_issue", where, str(exc), event.merchant_id)
            return
        for ticket in made:
            if ticket.ticket_no in self.tickets:
                self._find("issued_twice", where, f"ticket {ticket.ticket_no} was already issued", event.merchant_id)
                continue
            self.tickets[ticket.ticket_no] = ticket

    def on_ticket_event(self, event: TicketEvent | RedemptionRejected, where: str) -> None:
        if isinstance(event, RedemptionRejected):
            self.refusals += 1  # a refusal changes no ticket (its catch-up expiry is an event of its own)
            return
        ticket = self.tickets.get(event.ticket_no)
        if ticket is None:
            self._find("unknown_ticket", where, f"{event.event_type} of ticket {event.ticket_no}", event.merchant_id)
            return
        decision = decide(ticket, _command_of(event), event.at, self.cutoff)
        derived = [e for e in decision.events if type(e) is type(event)]
        others = [e for e in decision.events if type(e) is not type(event)]
        if others or len(derived) != 1 or not _same(derived[0], event):
            got = ", ".join(_describe(e) for e in decision.events) or "nothing"
            detail = f"{event.event_type} of ticket {event.ticket_no} at {event.at.isoformat()}: the rules give {got}"
            self._find("illegal_transition", where, detail, event.merchant_id)
            return
        self.rederived += 1
        if decision.ticket is not None:
            self.tickets[event.ticket_no] = decision.ticket

    def _find(self, kind: str, where: str, detail: str, merchant_id: str) -> None:
        self.findings.add(Finding("tickets", kind, where, detail, merchant_id))


def _command_of(event: TicketEvent) -> Command:
    """The command whose decision recorded `event` (the requesting merchant is the ticket's: another merchant's
    request is refused before any change)."""
    m = event.merchant_id
    if isinstance(event, TicketExpired):
        return ExpireEscrow(event.ticket_no) if event.kind is ExpiryKind.ESCROW else ExpireUsage(event.ticket_no)
    request_id = event.request_id or ""
    if isinstance(event, TicketWrittenOff):
        return WriteOff(event.write_off_hash, WriteOffAction.WRITE_OFF, event.store_id, event.operator, None,
                        request_id, m, None)  # fmt: skip
    if isinstance(event, WriteOffCancelled):
        return WriteOff(event.write_off_hash, WriteOffAction.CANCEL, None, event.operator, event.cancel_reason,
                        request_id, m, None)  # fmt: skip
    if isinstance(event, TicketRefunded | RefundCancelled):
        return Refund(event.ticket_no, None, isinstance(event, RefundCancelled), event.operator, request_id, m, None)
    raise ValueError(f"no command records {event.event_type}")


def _same(derived: Event, recorded: Event) -> bool:
    """Byte for byte: the derived payload serialises to the recorded payload's JSON."""
    return bool(derived.__pydantic_serializer__.to_json(derived) == recorded.__pydantic_serializer__.to_json(recorded))


def _describe(event: Event) -> str:
    if isinstance(event, RedemptionRejected):
        return f"a refusal {int(event.rtn_code)} ({event.reason})"
    if isinstance(event, TicketRefunded):
        return f"TicketRefunded fee {event.fee} refund {event.refund_amount}"
    if isinstance(event, TicketEvent):
        return f"{event.event_type} within_escrow={event.within_escrow}"
    return event.event_type
