"""What the provenance seal costs (shared/infra/seal.py): CPU microseconds per record to seal it (the relay) and to
check it (every consumer), for event sizes the platform publishes. No broker or database: the seal is pure CPU, and
CPU time, unlike wall time, is not stretched by other load on the machine.

    python -m deploy.bench.seal_cost            # docs/benchmarks.md, "Provenance seal"
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from shared.infra.seal import EventKey, Keyring

TOPIC, KEY = "ecticket.issuance.events.v1", b"3085676/ORDER0000000001"
# An ordinary event (~0.6 KB), a TicketsIssued of 20 tickets (~7 KB), the largest order's (1,000 tickets, ~350 KB).
SIZES = {"0.6 KB": 600, "7 KB": 7_000, "350 KB": 350_000}


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def per_call_us(step: Callable[[], object], calls: int) -> float:
    started = cpu_seconds()
    for _ in range(calls):
        step()
    return (cpu_seconds() - started) / calls * 1e6


def main() -> None:
    ring = Keyring((EventKey("new", bytes(range(32))), EventKey("old", bytes(32))))
    results = {}
    for name, size in SIZES.items():
        value = b"x" * size
        headers = ring.headers(TOPIC, KEY, value)
        calls = max(200, 20_000_000 // size)
        results[name] = {
            "seal_us": round(per_call_us(lambda v=value: ring.seal(TOPIC, KEY, v), calls), 2),  # type: ignore[misc]
            "verify_us": round(per_call_us(lambda v=value, h=headers: ring.problem(TOPIC, KEY, v, h), calls), 2),  # type: ignore[misc]
            "calls": calls,
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
