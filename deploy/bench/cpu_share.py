"""Who used the machine's CPU during a measurement: this benchmark's instance, or anything else.

The benchmark shares two cores with whatever else runs on the machine (other engineers' test suites, another
`make bench`). Its numbers only mean something next to how much of the CPU the rest took meanwhile, so the reports
say it. "Ours" is the instance's Kafka and PostgreSQL (every backend), the services and this client process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from deploy.bench.common import ROOT, children

TICKS = os.sysconf("SC_CLK_TCK")


def _ticks(pid: int, *, reaped_children: bool = False) -> int:
    """utime + stime of a process (and of its exited children, for the postmaster), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    ticks = int(fields[11]) + int(fields[12])
    return ticks + (int(fields[13]) + int(fields[14]) if reaped_children else 0)


def machine_busy() -> int:
    """Busy ticks of all cores: user, nice, system, irq, softirq, steal."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values[0:3]) + sum(values[5:8])


def own_and_children_seconds(service_pids: dict[str, int]) -> dict[str, tuple[float, float]]:
    """CPU seconds used so far by each service's own process, and by its children (its relay process)."""
    return {
        name: (_ticks(pid) / TICKS, sum(_ticks(c) for c in children(pid)) / TICKS) for name, pid in service_pids.items()
    }


@dataclass
class CpuShare:
    instance: str
    service_pids: dict[str, int]

    def _ours(self) -> int:
        run = ROOT / ".run" / self.instance
        services = list(self.service_pids.values())
        pids = [os.getpid(), *services, *(c for pid in services for c in children(pid))]  # + their relays
        kafka = run / "kafka.pid"
        if kafka.exists():
            pids.append(int(kafka.read_text().split()[0]))
        ticks = sum(_ticks(pid) for pid in pids)
        postmaster_file = run / "postgres" / "data" / "postmaster.pid"
        if postmaster_file.exists():
            postmaster = int(postmaster_file.read_text().splitlines()[0])
            ticks += _ticks(postmaster, reaped_children=True) + sum(_ticks(c) for c in children(postmaster))
        return ticks

    def start(self) -> None:
        self._start = (self._ours(), machine_busy())

    def cores(self, seconds: float) -> tuple[float, float]:
        """Cores used on average since start(), by this instance and by everything else."""
        ours, busy = self._ours(), machine_busy()
        ours_delta = (ours - self._start[0]) / TICKS / seconds
        busy_delta = (busy - self._start[1]) / TICKS / seconds
        return ours_delta, max(0.0, busy_delta - ours_delta)

    def describe(self, seconds: float) -> str:
        ours, others = self.cores(seconds)
        return f"this benchmark {ours:.2f}, other processes {others:.2f} (of {os.cpu_count()})"


def process_cpu_seconds(instance: str, service_pids: dict[str, int], *, relays_apart: bool = False) -> dict[str, float]:
    """CPU seconds used so far by each service (with its relay, or the relay under a name of its own with
    `relays_apart`), the broker, and PostgreSQL (every backend, live or exited): take two readings and subtract,
    for what a measured stretch cost each of them."""
    run = ROOT / ".run" / instance
    used: dict[str, float] = {}
    for name, (own, relay) in own_and_children_seconds(service_pids).items():
        if relays_apart:
            used[name], used[relay_name(name)] = own * TICKS, relay * TICKS
        else:
            used[name] = (own + relay) * TICKS
    kafka = run / "kafka.pid"
    if kafka.exists():
        used["kafka"] = _ticks(int(kafka.read_text().split()[0]))
    postmaster_file = run / "postgres" / "data" / "postmaster.pid"
    if postmaster_file.exists():
        postmaster = int(postmaster_file.read_text().splitlines()[0])
        used["postgres"] = _ticks(postmaster, reaped_children=True) + sum(_ticks(c) for c in children(postmaster))
    used["benchmark client"] = _ticks(os.getpid())
    return {name: ticks / TICKS for name, ticks in used.items()}


def relay_name(service: str) -> str:
    """How `process_cpu_seconds(..., relays_apart=True)` names a service's relay child, next to its service."""
    return f"{service}'s relay"
