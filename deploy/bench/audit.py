"""Audit benchmark: a generated history published through the real relays, then `python -m services.audit verify`
reading it back from Kafka: events/s and peak memory, chain only and with every decision re-derived.

Needs no service running (the history comes from the services' own pure code, deploy/bench/audit_history.py; the
relays are the real ones, in this process). Run directly: `python -m deploy.bench.audit --orders 10000`, or
`deploy/bench/run.py --only audit`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.bench.audit_history import SERVICES, generate, publish
from deploy.bench.common import ROOT, Report
from shared.contracts import chain
from shared.infra.chain import Checkpointer
from shared.settings import Settings

# The peak resident memory of the verify process itself: VmHWM belongs to its own address space (ru_maxrss would
# carry over the parent's peak across fork and exec, and this parent holds the whole generated history).
_MEASURED = (
    "import atexit, re, runpy, sys; "
    "atexit.register(lambda: print('PEAK_KB', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], "
    "file=sys.stderr)); "
    "sys.argv = ['services.audit', *sys.argv[1:]]; runpy.run_module('services.audit', run_name='__main__')"
)


def command(orders: int) -> str:
    return f"python -m deploy.bench.audit --orders {orders}"


def orders_default() -> int:
    return int(os.environ.get("BENCH_AUDIT_ORDERS", "10000"))


def verify(args: list[str]) -> tuple[float, float, dict[str, object]]:
    """Seconds, peak RSS in MB and the JSON report of one `verify` run."""
    out = Path(tempfile.mkdtemp()) / "report.json"
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURED, "verify", "--quiet", "--json", str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    rss = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KB"))
    return seconds, rss / 1024, json.loads(out.read_text())


async def run(settings: Settings, report: Report, orders: int) -> None:
    run_id = uuid.uuid4().hex[:8]
    suffix, prefix = f".bench-{run_id}", f"bench_{run_id}_"
    started = time.perf_counter()
    history = generate(orders, prefix)
    events = sum(len(e) for e in history.events.values())
    report.add("history generated (the services' own decisions)", f"{orders:,} orders, {events:,} events in "
               f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    key = Ed25519PrivateKey.generate()
    started = time.perf_counter()
    await publish(history, settings, suffix, Checkpointer(key, "bench"))
    seconds = time.perf_counter() - started
    report.add("published by the relays (5 outboxes, linked, signed)", f"{events / seconds:,.0f} events/s")
    keys = Path(tempfile.mkdtemp()) / "keys.json"
    keys.write_text(json.dumps({"bench": chain.public_hex(key)}))
    common = ["--topic-suffix", suffix, "--keys", str(keys), *[a for s in SERVICES for a in ("--chain", prefix + s)]]
    for label, extra in (("chain and checkpoints only", ["--chain-only"]), ("every decision re-derived", [])):
        seconds, rss, result = verify(common + extra)
        records = int(str(result["records"]))
        assert result["clean"], result["finding_counts"]
        report.add(
            f"verify from Kafka, {label}", f"{records / seconds:,.0f} records/s ({records:,} in {seconds:.1f} s)"
        )
        report.add(f"verify from Kafka, {label}: peak memory", f"{rss:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=orders_default())
    args = parser.parse_args()
    report = Report("Audit: replaying the log", command(args.orders))
    asyncio.run(run(Settings.from_env(), report, args.orders))
    report.append_to_docs()


if __name__ == "__main__":
    main()
