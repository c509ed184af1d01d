"""`python -m deploy.fuzz --inputs 100000 --seed 1`: the fuzz campaign against the running platform of INFRA_NAME
(`make fuzz` brings one up of its own): the ingestion topics (`--transport kafka`), the HTTP gateway's paths and
payment webhook (`--transport http`, at GATEWAY_URL), or both (the default), `--inputs` each; then `--cli-inputs` command lines of
the admin CLI (`--transport cli`: `--inputs` of them alone), run in this process against the same instance. Exit 0 only when every
input was answered specifically, no consumer stalled, no process died and nothing refused changed state. The JSON
report goes to --json (default .run/<instance>/fuzz.json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from pathlib import Path

from deploy.bench.common import ROOT, service_pids
from deploy.fuzz import cli_campaign, http_campaign
from deploy.fuzz.campaign import as_json_report, run, summary
from shared.admin.seed import TEST_MERCHANT
from shared.settings import Settings


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.fuzz", description=__doc__)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--merchant-id", default=TEST_MERCHANT, help="a registered merchant whose keys sign the seeds")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--transport", choices=("kafka", "http", "cli", "both"), default="both")
    parser.add_argument("--cli-inputs", type=int, default=0, help="admin CLI inputs after the others (cli: --inputs)")
    parser.add_argument("--http-rate", type=float, default=0, help="ECTicket requests a second over HTTP (0: unpaced)")
    parser.add_argument("--cli-workers", type=int, default=4, help="processes sharing the admin CLI inputs")
    args = parser.parse_args()
    instance = os.environ.get("INFRA_NAME", "dev")
    pids = service_pids(instance)
    bootstrap = Settings.from_env().kafka_bootstrap
    ok = True
    if args.transport in ("kafka", "both"):
        report = asyncio.run(run(bootstrap, args.merchant_id, args.inputs, args.seed))
        report.dead_processes = _dead(pids)
        print(summary(report))
        out = args.json or ROOT / ".run" / instance / "fuzz.json"
        out.write_text(as_json_report(report))
        print(f"report: {out}")
        ok = report.ok()
    if args.transport in ("http", "both"):
        url = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")
        over_http = asyncio.run(
            http_campaign.run(bootstrap, url, args.merchant_id, args.inputs, args.seed, rate=args.http_rate)
        )
        over_http.dead_processes = _dead(pids)
        print(http_campaign.summary(over_http))
        out = ROOT / ".run" / instance / "fuzz-http.json"
        out.write_text(http_campaign.as_json_report(over_http))
        print(f"report: {out}")
        ok = ok and over_http.ok()
    cli_inputs = args.inputs if args.transport == "cli" else args.cli_inputs
    if cli_inputs:
        prefix = "C" + uuid.uuid4().hex[:3]
        by_hand = cli_campaign.run(bootstrap, cli_inputs, args.seed, prefix, workers=args.cli_workers)
        print(cli_campaign.summary(by_hand))
        ok = ok and by_hand.ok()
    return 0 if ok else 1


def _dead(pids: dict[str, int]) -> list[str]:
    return [name for name, pid in pids.items() if not Path(f"/proc/{pid}").exists()]


if __name__ == "__main__":
    sys.exit(main())
