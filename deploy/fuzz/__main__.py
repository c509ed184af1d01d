"""`python -m deploy.fuzz --inputs 100000 --seed 1`: the fuzz campaign against the running platform of INFRA_NAME
(`make fuzz` brings one up of its own). Exit 0 only when every input was answered specifically, no consumer stalled,
no process died and nothing refused changed state. The JSON report goes to --json (default .run/<instance>/fuzz.json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from deploy.bench.common import ROOT, service_pids
from deploy.fuzz.campaign import as_json_report, run, summary
from shared.admin.seed import TEST_MERCHANT
from shared.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.fuzz", description=__doc__)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--merchant-id", default=TEST_MERCHANT, help="a registered merchant whose keys sign the seeds")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    instance = os.environ.get("INFRA_NAME", "dev")
    pids = service_pids(instance)
    report = asyncio.run(run(Settings.from_env().kafka_bootstrap, args.merchant_id, args.inputs, args.seed))
    report.dead_processes = [name for name, pid in pids.items() if not Path(f"/proc/{pid}").exists()]
    print(summary(report))
    out = args.json or ROOT / ".run" / instance / "fuzz.json"
    out.write_text(as_json_report(report))
    print(f"report: {out}")
    return 0 if report.ok() else 1


if __name__ == "__main__":
    sys.exit(main())
