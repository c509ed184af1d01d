"""`make bench`: start the services on the bench instance (fsync on), measure, append to docs/benchmarks.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.bench import issuance, settlement
from deploy.bench.common import ROOT, Report, service_pids
from shared.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", "20000")))
    args = parser.parse_args()
    instance = os.environ.get("INFRA_NAME", "bench")
    env = {**os.environ, "ECTICKET_SERVICES": "payment_confirmation issuance"}
    subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "start"], check=True, env=env)
    settings = Settings.from_env()
    report = Report("Issuance: paid orders end to end", f"make bench BENCH_ARGS='--orders {args.orders}'")
    print(f"benchmark: {args.orders} paid orders")
    asyncio.run(
        issuance.run(settings.kafka_bootstrap, settings.database_url, args.orders, report, service_pids(instance))
    )
    report.append_to_docs()
    # Alone on the machine, from the end of its topics: it measures its own day of events.
    subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "stop"], check=True)
    asyncio.run(settlement.skip_backlog(settings))
    env = {**os.environ, "ECTICKET_SERVICES": " ".join(settlement.SERVICES)}
    subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "start"], check=True, env=env)
    report = Report("Escrow settlement: ledger events and a day's payout run", settlement.command())
    print(f"benchmark: settlement, a day of {settlement.day_orders():,} orders")
    asyncio.run(settlement.run(settings, report, service_pids(instance)))
    report.append_to_docs()
    print("results appended to docs/benchmarks.md")


if __name__ == "__main__":
    main()
