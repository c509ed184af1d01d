"""`python -m deploy.chaos --orders N --seed S [--json PATH]`: a chaos run against the services deploy/local/services.sh
runs for INFRA_NAME (start them with ECTICKET_INSTANCES=2 to have two of each); exits 0 only when nothing was lost,
duplicated or wrong. `make chaos` brings up an instance of its own for it (docs/chaos.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from deploy.chaos.instances import LocalScripts
from deploy.chaos.report import human
from deploy.chaos.run import Options, chaos
from shared.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.chaos", description=__doc__)
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-every", type=float, default=4.0, help="seconds between instance kills (mean)")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args()
    # The run's own Kafka clients see every outage it causes: their per-attempt errors would bury the report.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    infra_name = os.environ.get("INFRA_NAME", "dev")
    options = Options(orders=args.orders, seed=args.seed, infra_name=infra_name, kill_every=args.kill_every)
    result = asyncio.run(chaos(Settings.from_env(), LocalScripts(infra_name), options))
    human(result, sys.stdout)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    sys.exit(0 if result["clean"] else 1)


if __name__ == "__main__":
    main()
