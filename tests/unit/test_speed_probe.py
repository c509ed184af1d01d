"""The benchmarks' speed probe (deploy/bench/speed_probe.py): its statistics, and its child process end to end."""

from __future__ import annotations

import time

from deploy.bench.speed_probe import SpeedProbe, summary


def test_the_probes_are_summed_up_as_their_median_and_tenth_and_ninetieth_percentiles() -> None:
    speed = summary([float(ms) for ms in range(10, 0, -1)])  # 10.0 down to 1.0
    assert speed is not None
    assert (speed.median_ms, speed.p10_ms, speed.p90_ms, speed.probes) == (6.0, 2.0, 10.0, 10)
    assert "6.0 ms of CPU at the median" in speed.describe()


def test_a_probe_that_saw_nothing_says_nothing() -> None:
    assert summary([]) is None


def test_the_probe_process_reports_what_it_measured_when_stopped() -> None:
    probe = SpeedProbe()
    time.sleep(1.2)  # at least two probes, half a second apart
    speed = probe.stop()
    assert speed is not None and speed.probes >= 2
    assert 0 < speed.p10_ms <= speed.median_ms <= speed.p90_ms
