"""A message that could not be parsed or validated: published so nothing disappears silently."""

from __future__ import annotations

from pydantic import AwareDatetime

from shared.contracts.events import Event, register
from shared.topics import REJECTIONS


@register
class MessageRejected(Event):
    event_type = "MessageRejected"
    topic = REJECTIONS

    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int
    raw_size: int
    raw_sha256: str
    # The first bytes, for a human; the whole message is in the consumer's dead_letters table.
    raw_preview: str
    error: str
    rejected_at: AwareDatetime
    # parse | handle | crash (shared/infra/deadletters.py Stage); older events carry neither field.
    stage: str = "parse"
    # A fact the service never applied (escrow-settlement's `cli check` reports it until it is resolved).
    touches_money: bool = False

    def key(self) -> str:
        return self.source_topic


@register
class DeadLetterResolved(Event):
    """A dead letter re-driven successfully (`redriven`) or dismissed by an operator with a reason."""

    event_type = "DeadLetterResolved"
    topic = REJECTIONS

    consumer: str
    source_topic: str
    source_partition: int
    source_offset: int
    resolution: str  # redriven | dismissed
    note: str
    resolved_at: AwareDatetime

    def key(self) -> str:
        return self.source_topic
