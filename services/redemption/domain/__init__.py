"""The pure core of the redemption service: ticket state, commands, and `decide`.

No I/O, no clock, no randomness: the shell loads a `Ticket`, calls `decide(ticket, command, now)`, saves
`decision.ticket` (with its next `due_at`) and appends `decision.events` to the outbox in one transaction.
"""

from services.redemption.domain.commands import (
    Command,
    ExpireEscrow,
    ExpireUsage,
    Refund,
    Request,
    WriteOff,
    WriteOffAction,
)
from services.redemption.domain.decide import decide
from services.redemption.domain.decision import Decision
from services.redemption.domain.schedule import due_at, expiry_of
from services.redemption.domain.ticket import Ticket, tickets_from_issued

__all__ = [
    "Command",
    "Decision",
    "ExpireEscrow",
    "ExpireUsage",
    "Refund",
    "Request",
    "Ticket",
    "WriteOff",
    "WriteOffAction",
    "decide",
    "due_at",
    "expiry_of",
    "tickets_from_issued",
]
