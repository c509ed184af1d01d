"""A broker outage reads as a few lines: the Kafka client's repeated errors are held back and counted."""

from __future__ import annotations

import logging

from shared.infra import logs
from shared.infra.consumer import log, provenance_log
from shared.infra.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(msg: str, name: str = "aiokafka.conn", level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, ("node 1",), None)


def test_the_first_of_a_kind_passes_and_its_repeats_are_held_back_then_counted() -> None:
    clock = Clock()
    repeats = RepeatFilter(window=10, clock=clock)
    assert repeats.filter(record("Unable connect to node with id %s"))
    held = [repeats.filter(record("Unable connect to node with id %s")) for _ in range(11_000)]
    assert not any(held)
    clock.now = 10.0
    summary = record("Unable connect to node with id %s")
    assert repeats.filter(summary)
    assert summary.getMessage() == "Unable connect to node with id node 1 (and 11000 more like it in the last 10 s)"


def test_another_kind_of_message_is_never_held_back_by_the_first() -> None:
    repeats = RepeatFilter(window=10, clock=Clock())
    assert repeats.filter(record("Unable connect to node with id %s"))
    assert repeats.filter(record("Unable to update metadata from %s"))
    assert repeats.filter(record("Unable connect to node with id %s", level=logging.WARNING))
    assert repeats.filter(record("Unable connect to node with id %s", name="aiokafka.cluster"))


def test_a_flood_of_records_refused_for_their_seal_reads_as_one_line_with_its_count() -> None:
    """Anyone who can write a platform topic with ACLs off could flood the log with refusals; each refused record
    is a dead letter, so the log needs only the first of them and a count. The consumer's other lines are never
    held back."""
    assert provenance_log.name.startswith(logs.NOISY) and not log.name.startswith(logs.NOISY)
    clock = Clock()
    repeats = RepeatFilter(window=10, clock=clock)

    def refused(offset: int) -> logging.LogRecord:
        args = ("issuance", "provenance: no seal", "ecticket.issuance.events.v1", 0, offset)
        return logging.LogRecord(provenance_log.name, logging.WARNING, __file__, 1, "%s: %s on %s/%d/%d", args, None)

    passed = [r.getMessage() for r in map(refused, range(1_000)) if repeats.filter(r)]
    clock.now = 10.0
    summary = refused(1_000)
    assert repeats.filter(summary)
    assert passed == ["issuance: provenance: no seal on ecticket.issuance.events.v1/0/0"]
    assert summary.getMessage().endswith("/0/1000 (and 999 more like it in the last 10 s)")
