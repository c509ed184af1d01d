"""Benchmark plumbing: latency percentiles, process memory, a results table appended to docs/benchmarks.md."""

from __future__ import annotations

import platform
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaProducer

from deploy.bench.speed_probe import SpeedProbe
from deploy.bench.stats import percentile as percentile  # re-exported: the benchmarks import it from here
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import EXEMPT, LOAD_GENERATOR_CLIENT, Quota, apply_quotas

ROOT = Path(__file__).resolve().parents[2]


def microseconds(step: Callable[[], object], times: int) -> float:
    """The mean wall time of `step`, called `times` times in a row (the in-process micro-benchmarks)."""
    started = time.perf_counter()
    for _ in range(times):
        step()
    return (time.perf_counter() - started) / times * 1e6


def hop_summary(name: str, seconds: list[float], width: int = 24) -> str:
    """One hop's times (in seconds) as the hop tools print them: p50, p90, p99 and max, in milliseconds."""
    ms = [v * 1000 for v in seconds]
    return (
        f"{name:<{width}} p50 {percentile(ms, 0.5):7.1f}  p90 {percentile(ms, 0.9):7.1f}  p99 {percentile(ms, 0.99):7.1f}"
        f"  max {max(ms):7.1f} ms"
    )


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS:")


def peak_rss_mb(pid: int) -> float:
    """The most the process has held resident since it started (VmHWM)."""
    return _status_mb(pid, "VmHWM:")


def _status_mb(pid: int, field_name: str) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone meanwhile
        return 0.0
    for line in status.splitlines():
        if line.startswith(field_name):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_and_relay_mb(pid: int) -> tuple[float, float]:
    """RSS of a service process and of its children (its outbox relay), in MB."""
    return rss_mb(pid), sum(rss_mb(c) for c in children(pid))


def children(parent: int) -> list[int]:
    """The processes whose parent is `parent` (a service's relay; the postmaster's backends)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == parent:
                    found.append(int(entry.name))
            except (OSError, ValueError):
                continue
    return found


def service_pids(instance: str) -> dict[str, int]:
    pids = {}
    for pidfile in (ROOT / ".run" / instance / "pids").glob("*.pid"):
        pids[pidfile.stem] = int(pidfile.read_text())
    return pids


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    cores = subprocess.run(["nproc"], capture_output=True, text=True, check=False).stdout.strip()
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return f"{cores} cores ({cpu}), {int(mem) // 1024 // 1024} GiB RAM, Python {platform.python_version()}"


@dataclass
class Report:
    title: str
    command: str
    rows: list[tuple[str, str]] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # Markdown lines after the table (another table, a note)
    # How fast the cores ran from the report's making to its rendering (deploy/bench/speed_probe.py).
    speed: SpeedProbe = field(default_factory=SpeedProbe, repr=False, compare=False)

    def add(self, name: str, value: str) -> None:
        self.rows.append((name, value))
        print(f"  {name:<58} {value}")

    def markdown(self) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        table = "\n".join(f"| {name} | {value} |" for name, value in self.rows)
        speed = self.speed.stop()
        probed = f"  \nSpeed: {speed.describe()}" if speed else ""
        return (
            f"\n## {self.title} — {stamp}\n\nMachine: {machine()}  \nCommand: `{self.command}`{probed}\n\n"
            f"| measure | result |\n|---|---|\n{table}\n" + "".join(f"{line}\n" for line in self.after)
        )

    def append_to_docs(self) -> None:
        path = ROOT / "docs" / "benchmarks.md"
        if not path.exists():
            path.write_text("# Benchmarks\n\nEach section is appended by `make bench` (newest last).\n")
        with path.open("a") as out:
            out.write(self.markdown())


async def load_producer(bootstrap: str, *, linger_ms: int, client_id: str = LOAD_GENERATOR_CLIENT) -> AIOKafkaProducer:
    """A benchmark's producer, started: every write acknowledged by all replicas, under the load generators' client
    id, exempt from the produce quota, which would otherwise measure the admission limit. The exemption is set here,
    not only by `make bench`: a tool run on its own against an instance (`deploy.bench.writeoff_hops`) was held to
    the unidentified producers' 1 MiB/s, and each burst that seeded its tickets throttled the write-offs sent next
    for up to 1.7 s (docs/benchmarks.md, "Commit stalls behind the broker's page writeback")."""
    if client_id == LOAD_GENERATOR_CLIENT:
        await apply_quotas(bootstrap, [Quota(LOAD_GENERATOR_CLIENT, EXEMPT)])
    producer = AIOKafkaProducer(
        client_id=client_id, bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms, **kafka_security()
    )
    await producer.start()
    return producer
