"""`make bench`: start the services on the bench instance (fsync on), measure, append to docs/benchmarks.md."""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.bench import issuance
from deploy.bench.common import ROOT, Report, service_pids
from shared.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=int(os.environ.get("BENCH_ORDERS", "20000")))
    args = parser.parse_args()
    instance = os.environ.get("INFRA_NAME", "bench")
    subprocess.run(["bash", str(ROOT / "deploy/local/services.sh"), "start"], check=True)
    settings = Settings.from_env()
    report = Report("Issuance: paid orders end to end", f"make bench BENCH_ARGS='--orders {args.orders}'")
    print(f"benchmark: {args.orders} paid orders")
    asyncio.run(
        issuance.run(settings.kafka_bootstrap, settings.database_url, args.orders, report, service_pids(instance))
    )
    report.append_to_docs()
    print("results appended to docs/benchmarks.md")


if __name__ == "__main__":
    main()
