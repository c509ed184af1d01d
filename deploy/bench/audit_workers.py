"""One process against `--workers 2`, alternating on one published history: the pairs docs/benchmarks.md quotes
("Audit verify in two worker processes"). This machine's speed drifts from minute to minute, so only runs made
side by side compare. Prints each run; appends nothing to the docs.

    python -m deploy.bench.audit_workers --orders 10000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio

from deploy.bench import audit
from deploy.bench.common import Report
from shared.settings import Settings


async def pairs(orders: int, rounds: int) -> None:
    common = await audit.published(Settings.from_env(), Report("scratch", "scratch"), orders)
    for n in range(rounds):
        runs = {label: audit.verify(common + extra) for label, extra in (("one", []), ("two", ["--workers", "2"]))}
        rates = {label: int(str(run.report["records"])) / run.seconds for label, run in runs.items()}
        cpu = {label: run.cpu for label, run in runs.items()}
        print(f"round {n + 1}: one process {rates['one']:,.0f} records/s ({cpu['one']:.1f} CPU-s), "
              f"two workers {rates['two']:,.0f} records/s ({cpu['two']:.1f} CPU-s), "
              f"gain {rates['two'] / rates['one']:.2f}", flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(pairs(args.orders, args.rounds))


if __name__ == "__main__":
    main()
