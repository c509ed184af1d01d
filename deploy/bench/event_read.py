"""What reading one event costs a consumer: the envelope and then its payload (two passes), against both at once
(one pass, shared/contracts/envelope_read.py; docs/benchmarks.md, "Events read in one pass by every consumer").

The events are escrow-settlement's day as its benchmark publishes them (deploy/bench/settlement.py): an order's
PaymentConfirmed, TicketsIssued, and its TicketWrittenOff or TicketRefunded, and the bank's statement line. Both ways in one process, alternating,
so the machine's load falls on both alike. No broker, no database:

    python -m deploy.bench.event_read --rounds 3
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from deploy.bench.common import microseconds
from deploy.bench.settlement import order_events
from shared.contracts.envelope import EventEnvelope
from shared.contracts.envelope_read import read_event
from shared.contracts.events import payload_of


def two_passes(raw: bytes) -> object:
    return payload_of(EventEnvelope.from_bytes(raw))


def one_pass(raw: bytes) -> object:
    return read_event(raw)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--times", type=int, default=10_000, help="reads per event, way and round")
    args = parser.parse_args()
    at = datetime.now(UTC)
    events = {
        EventEnvelope.from_bytes(raw).event_type: raw
        for refund in (False, True)
        for _, _, raw in order_events("7000000001", f"BS{refund:d}0000000000000001", at, refund)
    }
    for name, raw in sorted(events.items()):
        assert one_pass(raw) == two_passes(raw)
        rounds = []
        for _ in range(args.rounds):
            two = microseconds(lambda: two_passes(raw), args.times)  # noqa: B023 (called here)
            rounds.append((two, microseconds(lambda: one_pass(raw), args.times)))  # noqa: B023 (called here)
        before = ", ".join(f"{b:.1f}" for b, _ in rounds)
        after = ", ".join(f"{a:.1f}" for _, a in rounds)
        print(f"{name} ({len(raw):,} bytes): two passes {before} µs; one pass {after} µs")


if __name__ == "__main__":
    main()
