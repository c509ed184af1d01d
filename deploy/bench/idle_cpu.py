"""What a platform at rest costs: the CPU every platform process (the services, their relays, the broker, every
PostgreSQL backend) uses over a stretch with no traffic, from /proc. Printed, not appended to docs/benchmarks.md.

    INFRA_NAME=idle bash deploy/local/infra.sh up && source .run/idle/env && .venv/bin/python -m shared.setup --seed
    INFRA_NAME=idle bash deploy/local/services.sh start      # every service, as make run starts them
    sleep 15 && .venv/bin/python -m deploy.bench.idle_cpu --seconds 10
    INFRA_NAME=idle bash deploy/local/services.sh stop; INFRA_NAME=idle bash deploy/local/infra.sh down

It counts every python, java and postgres process on the machine: run it with nothing else of the kind running.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from deploy.bench.cpu_share import TICKS

KINDS = ("python", "java", "postgres")


def processes() -> dict[int, tuple[str, int]]:
    """pid -> (what it runs, its CPU ticks so far), for the platform's kinds of process."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if any(kind in command for kind in KINDS):
            found[int(entry.name)] = (command, int(fields[11]) + int(fields[12]))
    return found


def name_of(command: str) -> str:
    if "postgres" in command:
        return "PostgreSQL (every backend)"
    if "java" in command:
        return "the broker"
    return command.split(" -m ", 1)[-1][:70]


def main(seconds: float) -> None:
    before = processes()
    time.sleep(seconds)
    used: dict[str, float] = {}
    for pid, (command, ticks) in processes().items():
        if pid in before:
            name = name_of(command)
            used[name] = used.get(name, 0.0) + (ticks - before[pid][1]) / TICKS / seconds
    for name, cores in sorted(used.items(), key=lambda item: -item[1]):
        if cores > 0:
            print(f"{cores * 100:6.1f} % of a core  {name}")
    print(f"{sum(used.values()) * 100:6.1f} % of a core  all")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0)
    main(parser.parse_args().seconds)
