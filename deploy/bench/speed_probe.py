"""How fast this machine's cores ran while a benchmark ran: a speed index printed with every section.

The two cores under these benchmarks do not run at one speed. A fixed loop of pure Python takes between about 5 and
8.5 ms of CPU from one half second to the next, even with nothing else running, and whole runs of the same code have
differed by 40 % (docs/benchmarks.md, "The pipeline's Kafka floor per paid order"): the host shares the physical
cores. So a section's numbers compare with another's only next to how fast the cores were meanwhile.

A child process runs the loop every half second for the whole run and measures its own CPU time (not the wall
clock, so waiting for a core the benchmark keeps busy does not count; a core running slower does). It costs about
1 % of one core. It exits with its parent.

    python -m deploy.bench.speed_probe   # by hand: prints one line of statistics on Ctrl-C or SIGTERM
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from deploy.bench.stats import percentile

LOOP_ITERATIONS = 100_000  # about 5-8.5 ms of CPU on this machine
EVERY_SECONDS = 0.5


def loop_cpu_ms() -> float:
    started = time.thread_time()
    total = 0
    for i in range(LOOP_ITERATIONS):
        total += i * i % 7
    return (time.thread_time() - started) * 1000


@dataclass(frozen=True)
class Speed:
    median_ms: float
    p10_ms: float
    p90_ms: float
    probes: int

    def describe(self) -> str:
        return (
            f"a fixed Python loop took {self.median_ms:.1f} ms of CPU at the median (p10 {self.p10_ms:.1f}, p90"
            f" {self.p90_ms:.1f}; {self.probes} probes over the run; lower is faster)"
        )


def summary(samples: list[float]) -> Speed | None:
    if not samples:
        return None
    return Speed(percentile(samples, 0.5), percentile(samples, 0.1), percentile(samples, 0.9), len(samples))


class SpeedProbe:
    """The probe's child process, from `start()` until `stop()` returns what it saw."""

    def __init__(self) -> None:
        self._child = subprocess.Popen(
            [sys.executable, "-m", "deploy.bench.speed_probe"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )

    def stop(self) -> Speed | None:
        """What the probe saw; None if it had nothing to say (it died, or ran less than half a second)."""
        if self._child.poll() is None:
            self._child.terminate()
        try:
            out, _ = self._child.communicate(timeout=10)
            fields = json.loads(out or b"null")
        except (subprocess.TimeoutExpired, ValueError):
            self._child.kill()
            return None
        return Speed(**fields) if fields else None


class _Stop(Exception):
    pass


def _stop(_signal: int, _frame: object) -> None:
    raise _Stop


def main() -> None:
    # Set explicitly: a benchmark started in the background by a shell inherits SIGINT ignored, and Python then
    # installs no handler of its own for it.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    parent = os.getppid()
    samples: list[float] = []
    try:
        while os.getppid() == parent:
            samples.append(loop_cpu_ms())
            time.sleep(EVERY_SECONDS)
    except _Stop:
        pass
    speed = summary(samples)
    print(json.dumps(speed.__dict__ if speed else None), flush=True)


if __name__ == "__main__":
    main()
