"""Peak resident memory of every service of a local instance, and of its relay child, while something else runs.

For the benchmarks that do not report memory themselves (gateway, query, notifications): started beside them, it
reads the instance's pid files every 0.5 s (services restarted meanwhile are followed) and, on Ctrl-C or SIGTERM,
prints each service's peak, its relay's, and their peak together:

    python -m deploy.bench.peak_memory bench > peaks.txt & watcher=$!
    make bench BENCH_ARGS='--only gateway'; kill $watcher; cat peaks.txt
"""

from __future__ import annotations

import argparse
import signal
import time
from types import FrameType

from deploy.bench.common import rss_and_relay_mb, service_pids

SAMPLE_SECONDS = 0.5


class Stop(Exception):
    pass


def _stop(_signum: int, _frame: FrameType | None) -> None:
    raise Stop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instance", help="the INFRA_NAME whose .run/<instance>/pids/ to watch (make bench: bench)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)
    peaks: dict[str, tuple[float, float, float]] = {}
    try:
        while True:
            for name, pid in service_pids(args.instance).items():
                service, relay = rss_and_relay_mb(pid)
                was = peaks.get(name, (0.0, 0.0, 0.0))
                peaks[name] = (max(was[0], service), max(was[1], relay), max(was[2], service + relay))
            time.sleep(SAMPLE_SECONDS)
    except (Stop, KeyboardInterrupt):
        pass
    for name, (service, relay, together) in sorted(peaks.items()):
        print(f"{name}: peak {service:,.0f} MB, its relay {relay:,.0f} MB, together {together:,.0f} MB")


if __name__ == "__main__":
    main()
