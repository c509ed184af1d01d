"""The fault schedule (pure): which fault, when, against what, drawn from the seed alone so a run is reproducible.

One-off faults are placed by the stream's progress (the share of orders sent), not by wall time, so the same seed
puts them at the same point of the stream on a fast or a slow machine. Instance kills come every few seconds of wall
time while the stream runs; their intervals and targets are a seeded sequence, consumed as the run goes.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

KILL = "kill9"  # kill -9 of one service instance, started again after a moment
PAUSE = "sigstop"  # SIGSTOP of one instance past its consumer session timeout, then SIGCONT
KAFKA = "kafka_restart"  # the broker stopped, kept down, started again
PG_FAST = "pg_restart_fast"  # pg_ctl -m fast restart: every session ended cleanly
PG_IMMEDIATE = "pg_restart_immediate"  # pg_ctl -m immediate restart: a crash, recovery from WAL
PG_TERMINATE = "pg_terminate_backend"  # every service's database sessions terminated at once
KINDS = (KILL, PAUSE, KAFKA, PG_FAST, PG_IMMEDIATE, PG_TERMINATE)

SESSION_TIMEOUT_SECONDS = 6.0  # shared/infra/consumer.py: session_timeout_ms
PAUSE_SECONDS = SESSION_TIMEOUT_SECONDS + 4.0  # long enough for the group to evict the paused member


@dataclass(frozen=True)
class Milestone:
    """A one-off fault, injected once `at` (0..1) of the orders have been sent."""

    at: float
    kind: str
    target: str | None = None  # the instance (PAUSE)


@dataclass(frozen=True)
class Kill:
    after_seconds: float  # since the previous kill (or the start of the stream)
    target: str


def milestones(seed: int, instances: Sequence[str]) -> list[Milestone]:
    """The broker once, Postgres fast and immediate once each, backends killed three times, one pause; spread over
    the middle of the stream in a seeded order, so every fault meets traffic before and after it."""
    rng = random.Random(seed)
    kinds = [KAFKA, PG_FAST, PG_IMMEDIATE, PAUSE, PG_TERMINATE, PG_TERMINATE, PG_TERMINATE]
    rng.shuffle(kinds)
    slots = [0.12 + 0.7 * i / (len(kinds) - 1) for i in range(len(kinds))]
    return [
        Milestone(round(at + rng.uniform(-0.03, 0.03), 3), kind, rng.choice(instances) if kind == PAUSE else None)
        for at, kind in zip(slots, kinds, strict=True)
    ]


def kills(seed: int, instances: Sequence[str], every: float) -> Iterator[Kill]:
    """Endless: a kill every `every` seconds on average (between half and one and a half of it)."""
    rng = random.Random(seed * 7919 + 1)  # its own stream: the milestones do not shift the kills
    while True:
        yield Kill(round(rng.uniform(0.5 * every, 1.5 * every), 2), rng.choice(instances))
