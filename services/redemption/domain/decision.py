"""The result of one decision: the ticket's new state and the events that describe the change."""

from __future__ import annotations

from dataclasses import dataclass

from services.redemption.domain.ticket import Ticket
from shared.contracts.events import Event
from shared.contracts.redemption import RedemptionRejected
from shared.contracts.rtncodes import RtnCode


@dataclass(frozen=True)
class Decision:
    """Save `ticket` and append every event to the outbox, refusals included.

    A refusal can still change state: time-driven expiry is caught up before every request (decide.py), so a
    rejected late request may carry a `TicketExpired` alongside its `RedemptionRejected`.
    """

    ticket: Ticket | None
    events: tuple[Event, ...] = ()

    @property
    def rejection(self) -> RedemptionRejected | None:
        return next((e for e in self.events if isinstance(e, RedemptionRejected)), None)

    @property
    def rtn_code(self) -> RtnCode:
        """The RtnCode of the reply to the request."""
        refusal = self.rejection
        return RtnCode.SUCCESS if refusal is None else refusal.rtn_code


# One step inside `decide`: the ticket after the step and the events it produced.
Transition = tuple[Ticket, tuple[Event, ...]]
