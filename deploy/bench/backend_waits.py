"""What one service's PostgreSQL backends are doing while it runs, and each process's CPU over the same seconds.

Every 20 ms it reads `pg_stat_activity` for the service's connections (application_name `ecticket-<schema>`) and
counts each backend by state and wait: executing (`active`, CPU), waiting for a lock (with the statement), waiting
for the disk, or inside a transaction waiting for the service's next statement (`idle in transaction`,
ClientRead: the service's own time within its transactions). Per process (every python, java and postgres process,
as `idle_cpu` counts them): its time on a CPU, and its time runnable but waiting for one (schedstat). Run it beside
a benchmark, on that benchmark's instance; it prints and writes nothing:

    source .run/dev/env && python -m deploy.bench.backend_waits escrow_settlement --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import asyncpg

from deploy.bench.cpu_share import TICKS, machine_busy
from deploy.bench.idle_cpu import name_of, processes


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


def cpu_waits(pids: Iterable[int]) -> dict[int, int]:
    """Nanoseconds each process has spent runnable but waiting for a CPU so far (`/proc/<pid>/schedstat`)."""
    found = {}
    for pid in pids:
        try:
            found[pid] = int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])
        except OSError:
            continue  # it ended meanwhile
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("schema", help="the service's schema, e.g. escrow_settlement")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    before, busy_before = processes(), machine_busy()
    queued_before = cpu_waits(before)
    busy, waits = asyncio.run(sample(os.environ["DATABASE_URL"], args.schema, args.seconds))
    after, busy_after = processes(), machine_busy()
    queued_after = cpu_waits(after)
    used: Counter[str] = Counter()
    queued: Counter[str] = Counter()
    for pid, (command, ticks) in after.items():
        if pid in before and pid in queued_before and pid in queued_after:
            used[name_of(command)] += ticks - before[pid][1]
            queued[name_of(command)] += queued_after[pid] - queued_before[pid]
    cores = os.cpu_count() or 1
    print(f"machine busy: {(busy_after - busy_before) / TICKS / args.seconds:.2f} of {cores} cores")
    for name, ticks in used.most_common(6):
        on_cpu, waiting = ticks / TICKS / args.seconds, queued[name] / 1e9 / args.seconds
        print(f"  {on_cpu:.2f} cores on a CPU, {waiting:.2f} waiting for one  {name}")
    total = sum(waits.values())
    print(f"samples with a backend of {args.schema} busy: {busy}; backend samples: {total}")
    for (state, wait, query), n in waits.most_common(12):
        print(f"  {n:6,} ({100 * n / total:4.1f} %)  {state:20} {wait:28} {query}")


if __name__ == "__main__":
    main()
