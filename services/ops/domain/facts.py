"""What the fold consumes: one parsed domain event and where it was read from (its offset dedups a redelivery)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shared.contracts.events import Event


@dataclass(frozen=True)
class Fact:
    topic: str
    partition: int
    offset: int
    event_type: str
    occurred_at: datetime
    key: str
    payload: Event


@dataclass(frozen=True)
class Poison:
    """A record no contract reads: dead-lettered by the shell, and counted as applied (its offset is passed)."""

    topic: str
    partition: int
    offset: int
    error: str
