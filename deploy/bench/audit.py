"""Audit benchmark: a generated history published through the real relays, then `python -m services.audit verify`
reading it back from Kafka: events/s (wall, and per CPU-second of the verify process) and its peak memory, chain
only, with every decision re-derived, and that in two worker processes (`--workers 2`). With BENCH_AUDIT_MILLION=1, a second history of about a million events
(BENCH_AUDIT_MILLION_ORDERS, default 92,000 orders) is verified too, for the memory a million events need (slow:
generating and publishing it takes tens of minutes on two cores).

Needs no service running (the history comes from the services' own pure code, deploy/bench/audit_history.py; the
relays are the real ones, in this process). Run directly: `python -m deploy.bench.audit --orders 10000`, or
`deploy/bench/run.py --only audit`.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.bench.audit_history import SERVICES, History, generate
from deploy.bench.common import ROOT, Report
from shared import chain
from shared.contracts.events import Outgoing
from shared.infra import outbox
from shared.infra.chain import Checkpointer
from shared.infra.database import migrate
from shared.infra.kafka_auth import ADMIN
from shared.infra.relay import OutboxRelay
from shared.infra.topics_admin import ensure_topics
from shared.settings import Settings
from shared.topics import AUDIT_CHECKPOINTS, CATALOG

# The orders spread over this many merchants (BENCH_AUDIT_MERCHANTS): `--workers` shares merchants out by a hash,
# which splits evenly only over many. Not a multiple of 2 or 5, so no merchant gets only one kind of order (the
# generator picks an order's fate by its number).
MERCHANTS = int(os.environ.get("BENCH_AUDIT_MERCHANTS", "101"))

# The peak resident memory of the verify process itself: VmHWM belongs to its own address space (ru_maxrss would
# carry over the parent's peak across fork and exec, and this parent holds the whole generated history).
_MEASURED = (
    "import atexit, re, runpy, sys; "
    "atexit.register(lambda: print('PEAK_KB', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1], "
    "file=sys.stderr)); "
    "sys.argv = ['services.audit', *sys.argv[1:]]; runpy.run_module('services.audit', run_name='__main__')"
)


def command(orders: int) -> str:
    million = "BENCH_AUDIT_MILLION=1 " if os.environ.get("BENCH_AUDIT_MILLION") == "1" else ""
    return f"{million}BENCH_AUDIT_MERCHANTS={MERCHANTS} python -m deploy.bench.audit --orders {orders}"


def orders_default() -> int:
    return int(os.environ.get("BENCH_AUDIT_ORDERS", "10000"))


@dataclass(frozen=True)
class Run:
    seconds: float  # wall
    cpu: float  # user + system of the verify process
    peak_mb: float
    report: dict[str, object]


def verify(args: list[str]) -> Run:
    """One `verify` run in a process of its own: wall and CPU seconds, peak RSS, its JSON report."""
    out = Path(tempfile.mkdtemp()) / "report.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # As admin: the audit CLI acts as the read-only `auditor`, which may read the platform's own topics only, and
    # this benchmark publishes its history to copies of them (topics with a suffix).
    done = subprocess.run([sys.executable, "-c", _MEASURED, "verify", "--quiet", "--json", str(out), *args],
                          cwd=ROOT, capture_output=True, text=True, check=False,
                          env={**os.environ, "KAFKA_PRINCIPAL": ADMIN})  # fmt: skip
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if not out.exists():
        raise RuntimeError(f"audit verify wrote no report (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    rss = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_KB"))
    return Run(seconds, cpu, rss / 1024, json.loads(out.read_text()))


async def run(settings: Settings, report: Report, orders: int) -> None:
    common = await published(settings, report, orders)
    for label, extra in (("chain and checkpoints only", ["--chain-only"]), ("every decision re-derived", [])):
        record(report, f"verify from Kafka, {label}", verify(common + extra))
    for workers in (2,):
        run = verify([*common, "--workers", str(workers)])
        label = f"verify from Kafka, every decision re-derived, {workers} workers"
        record(report, label, run, memory=False)  # the process it measures is the parent: the workers say theirs
        each = run.report["workers"]
        assert isinstance(each, list)
        report.add(f"{label}: peak memory of each worker", " and ".join(f"{w['peak_mb']:,.0f} MB" for w in each))
    if os.environ.get("BENCH_AUDIT_MILLION") == "1":
        million = int(os.environ.get("BENCH_AUDIT_MILLION_ORDERS", "92000"))
        common = await published(settings, report, million, "the large history: ")
        record(report, "the large history: verify from Kafka, every decision re-derived", verify(common))


def reconciled(report: Report) -> None:
    """`verify --reconcile` of the instance's own log, after a benchmark ran the platform on it (the pipeline's): the
    speed with reconciliation, which the generated histories above cannot measure (they have no service databases).
    Whether it checked out is a row of its own, not an assertion: the pipeline's figures are reported either way."""
    for workers in (1, 2):
        run = verify(["--trust-local-key", "--reconcile", "--workers", str(workers)])
        verdict = "clean" if run.report["clean"] else f"NOT CLEAN: {run.report['finding_counts']}"
        label = f"audit of this run's log, every decision re-derived and reconciled, {workers} worker(s)"
        report.add(label, f"{_speed(run)}; {verdict}")


def record(report: Report, label: str, run: Run, memory: bool = True) -> None:
    assert run.report["clean"], run.report["finding_counts"]
    report.add(label, _speed(run))
    if memory:
        report.add(f"{label}: peak memory", f"{run.peak_mb:,.0f} MB")


def _speed(run: Run) -> str:
    records = int(str(run.report["records"]))
    return (f"{records / run.seconds:,.0f} records/s wall, {records / run.cpu:,.0f} per CPU-second "
            f"({records:,} in {run.seconds:.1f} s, {run.cpu:.1f} CPU-s)")  # fmt: skip


async def published(settings: Settings, report: Report, orders: int, label: str = "") -> list[str]:
    """A generated history of `orders` published by the relays; the verify arguments that read it back."""
    run_id = uuid.uuid4().hex[:8]
    suffix, prefix = f".bench-{run_id}", f"bench_{run_id}_"
    started = time.perf_counter()
    history = generate(orders, prefix, merchants=MERCHANTS)
    events = sum(len(e) for e in history.events.values())
    report.add(f"{label}history generated (the services' own decisions)", f"{orders:,} orders, {events:,} events in "
               f"{time.perf_counter() - started:.1f} s")  # fmt: skip
    key = Ed25519PrivateKey.generate()
    started = time.perf_counter()
    await publish(history, settings, suffix, Checkpointer(key, "bench"))
    seconds = time.perf_counter() - started
    report.add(f"{label}published by the relays (5 outboxes, linked, signed)", f"{events / seconds:,.0f} events/s")
    keys = Path(tempfile.mkdtemp()) / "keys.json"
    keys.write_text(json.dumps({"bench": chain.public_hex(key)}))
    del history  # the verify runs measure their own memory; this process need not hold the history meanwhile
    return ["--topic-suffix", suffix, "--keys", str(keys), *[a for s in SERVICES for a in ("--chain", prefix + s)]]


async def publish(history: History, settings: Settings, suffix: str, checkpointer: Checkpointer) -> None:
    """Through the real path: each service's events into an outbox of its own schema (`prefix + service`), each
    outbox published by a real relay onto the topics `<topic><suffix>` (created here), checkpoints included."""
    await ensure_topics(settings.kafka_bootstrap, tuple(replace(t, name=t.name + suffix) for t in CATALOG))
    relays = []
    for service, events in history.events.items():
        schema = history.prefix + service
        await migrate(settings.database_url, schema, Path(tempfile.mkdtemp()))
        conn = await asyncpg.connect(settings.database_url, server_settings={"search_path": schema})
        try:
            moved = [Outgoing.serialised(e.topic + suffix, e.key, e.event_id, e.event_type, e.value) for e in events]
            for start in range(0, len(moved), 5000):
                async with conn.transaction():
                    await outbox.append_many(conn, schema, moved[start : start + 5000])
        finally:
            await conn.close()
        signer = dataclasses.replace(checkpointer)
        relays.append(OutboxRelay(schema, settings.database_url, settings.kafka_bootstrap, signer,
                                  checkpoint_topic=AUDIT_CHECKPOINTS + suffix))  # fmt: skip
    tasks = [asyncio.create_task(r.run()) for r in relays]
    while any(r.published < len(history.events[r.schema.removeprefix(history.prefix)]) for r in relays):  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    for r in relays:
        r.stopping.set()  # the final checkpoint signs each chain's tail
    await asyncio.gather(*tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=orders_default())
    args = parser.parse_args()
    report = Report("Audit: replaying the log", command(args.orders))
    asyncio.run(run(Settings.from_env(), report, args.orders))
    report.append_to_docs()


if __name__ == "__main__":
    main()
