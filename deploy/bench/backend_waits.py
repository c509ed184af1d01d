"""What one service's PostgreSQL backends are doing while it runs, and each process's CPU over the same seconds.

Every 20 ms it reads `pg_stat_activity` for the service's connections (application_name `ecticket-<schema>`) and
counts each backend by state and wait: executing (`active`, CPU), waiting for a lock (with the statement), waiting
for the disk, or inside a transaction waiting for the service's next statement (`idle in transaction`,
ClientRead: the service's own time within its transactions). Run it beside a benchmark, on that benchmark's
instance; it prints and writes nothing:

    source .run/dev/env && python -m deploy.bench.backend_waits escrow_settlement --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import asyncpg

TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


async def sample(dsn: str, schema: str, seconds: float) -> tuple[int, Counter[tuple[str, str, str]]]:
    conn = await asyncpg.connect(dsn)
    waits: Counter[tuple[str, str, str]] = Counter()
    busy = 0
    try:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rows = await conn.fetch(
                """SELECT state, coalesce(wait_event_type, 'CPU') AS kind, coalesce(wait_event, '') AS event,
                          left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS query
                   FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'""",
                f"ecticket-{schema}",
            )
            busy += bool(rows)
            for r in rows:
                waits[(r["state"], f"{r['kind']}/{r['event']}", r["query"] if r["kind"] == "Lock" else "")] += 1
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    return busy, waits


def cpu_ticks() -> dict[int, tuple[str, int]]:
    """Each process's name and user + system CPU ticks so far."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # it ended meanwhile
        name = "postgres" if "postgres" in command else "kafka" if "java" in command else command[:70]
        found[int(proc.name)] = (name, int(fields[11]) + int(fields[12]))
    return found


def idle_ticks() -> tuple[int, int]:
    """The machine's (all, idle + iowait) CPU ticks so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("schema", help="the service's schema, e.g. escrow_settlement")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    before, (all_before, idle_before) = cpu_ticks(), idle_ticks()
    busy, waits = asyncio.run(sample(os.environ["DATABASE_URL"], args.schema, args.seconds))
    after, (all_after, idle_after) = cpu_ticks(), idle_ticks()
    used: Counter[str] = Counter()
    for pid, (name, ticks) in after.items():
        if pid in before:
            used[name] += ticks - before[pid][1]
    cores = os.cpu_count() or 1
    print(f"machine busy: {(1 - (idle_after - idle_before) / (all_after - all_before)) * cores:.2f} of {cores} cores")
    for name, ticks in used.most_common(6):
        print(f"  {ticks / TICKS_PER_SECOND / args.seconds:.2f} cores  {name}")
    total = sum(waits.values())
    print(f"samples with a backend of {args.schema} busy: {busy}; backend samples: {total}")
    for (state, wait, query), n in waits.most_common(12):
        print(f"  {n:6,} ({100 * n / total:4.1f} %)  {state:20} {wait:28} {query}")


if __name__ == "__main__":
    main()
