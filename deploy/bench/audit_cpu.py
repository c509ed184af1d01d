"""The audit's verification in process, no broker: records per CPU-second of `Verifier.feed` and of the end-of-log
checks, on a generated history (deploy/bench/audit_history.py) laid out as the log holds it.

CPU seconds of this process (`time.process_time`), which the machine's load stretches far less than wall time: the
measure to compare two versions of the code on one shared machine. `--json` writes the verification's report with
sorted keys, so two versions can be shown to report the same. `--cache` keeps the generated records (and the
checkpoints' public key) in a pickle file, so versions compared one after the other replay the same bytes; it is
this benchmark's own file, never one from elsewhere (loading a pickle runs code).

    python -m deploy.bench.audit_cpu --orders 10000 --cache /tmp/audit-10000.pickle --json report.json

`--worker I/N`: one worker's share of `verify --workers N` instead (services/audit/workers.py), for comparing the
workers' CPU; run each worker in a process of its own, on a history of many merchants (the shares are by merchant):

    python -m deploy.bench.audit_cpu --merchants 101 --cache /tmp/audit-101.pickle --worker 0/2
    python -m deploy.bench.audit_cpu --merchants 101 --cache /tmp/audit-101.pickle --worker 1/2
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from deploy.bench.audit_history import as_log, generate
from services.audit import report
from services.audit.cli import collect_less
from services.audit.domain.records import Record
from services.audit.domain.shard import Shard
from services.audit.domain.verify import Options, Verifier

AT = datetime(2026, 11, 20, tzinfo=UTC)


@dataclass(frozen=True)
class Measure:
    records: int
    feed_cpu: float
    finish_cpu: float
    report: dict[str, object]

    def line(self) -> str:
        total = self.feed_cpu + self.finish_cpu
        return (
            f"{self.records:,} records: fed in {self.feed_cpu:.2f} CPU-s ({self.records / self.feed_cpu:,.0f} per"
            f" CPU-second), end-of-log checks {self.finish_cpu:.2f} CPU-s; {self.records / total:,.0f} records per"
            f" CPU-second in all; clean: {self.report['clean']}"
        )


def history(
    orders: int, cache: Path | None, merchants: int | None = None
) -> tuple[tuple[Record, ...], Ed25519PublicKey]:
    if cache is not None and cache.exists():
        records, raw = pickle.loads(cache.read_bytes())  # this benchmark's own file (the module's docstring)
        return records, Ed25519PublicKey.from_public_bytes(raw)
    key = Ed25519PrivateKey.generate()
    generated = generate(orders) if merchants is None else generate(orders, merchants=merchants)
    records = as_log(generated, key, AT)
    if cache is not None:
        raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        cache.write_bytes(pickle.dumps((records, raw), pickle.HIGHEST_PROTOCOL))
    return records, key.public_key()


def measure(records: tuple[Record, ...], public: Ed25519PublicKey, shard: Shard | None = None) -> Measure:
    verifier = Verifier(Options(shard=shard))
    started = time.process_time()
    for record in records:
        verifier.feed(record)
    fed = time.process_time()
    signed = verifier.finish({"k1": public})
    finished = time.process_time()
    return Measure(len(records), fed - started, finished - fed, report.as_json(verifier, signed, None))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, help="keep the generated records here, and reuse them")
    parser.add_argument("--json", type=Path, help="write the report here (sorted keys)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--default-collector", action="store_true", help="Python's thresholds, not verify's")
    parser.add_argument("--merchants", type=int, help="spread the orders over this many (a new history only)")
    parser.add_argument("--worker", type=_shard, help="I/N: worker I's share of N workers")
    args = parser.parse_args()
    records, public = history(args.orders, args.cache, args.merchants)
    if not args.default_collector:
        collect_less()  # as `verify` does
    for _ in range(args.runs):
        result = measure(records, public, args.worker)
        print(result.line(), flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(result.report, indent=1, sort_keys=True, default=str) + "\n")


def _shard(text: str) -> Shard:
    index, _, count = text.partition("/")
    return Shard(int(index), int(count))


if __name__ == "__main__":
    main()
