"""Where an expired ticket's CPU goes (issue 17's expiry bar): redemption alone expires N due tickets (the redemption
benchmark's `seed_due` and `flood`), while this reads each process's CPU from /proc (redemption, its relay, Kafka,
every PostgreSQL backend, this driver) and, when the instance has pg_stat_statements, the statements' time.

    export INFRA_NAME=expiry KAFKA_PORT=31192 PG_PORT=31532
    PG_EXTRA_OPTS="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all" \\
      bash deploy/local/infra.sh up && source .run/expiry/env && .venv/bin/python -m shared.setup --seed
    psql "$DATABASE_URL" -c "CREATE EXTENSION pg_stat_statements"
    ECTICKET_SERVICES=redemption bash deploy/local/services.sh start
    .venv/bin/python -m deploy.bench.expiry_cpu --tickets 300000
    bash deploy/local/services.sh stop; bash deploy/local/infra.sh down
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg

from deploy.bench.common import ROOT, Report, children, service_pids
from deploy.bench.cpu_share import TICKS, CpuShare, _ticks
from deploy.bench.redemption import flood, memory_of, opened_pos, seed_due
from shared.settings import Settings

STATEMENTS = """
SELECT total_exec_time, calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 110) AS query
FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10"""


def cpu_ticks(instance: str, pids: dict[str, int]) -> dict[str, int]:
    run = ROOT / ".run" / instance
    postmaster = int((run / "postgres" / "data" / "postmaster.pid").read_text().splitlines()[0])
    return {
        "redemption": _ticks(pids["redemption"]),
        "its relay": sum(_ticks(c) for c in children(pids["redemption"])),
        "Kafka": _ticks(int((run / "kafka.pid").read_text().split()[0])),
        "PostgreSQL": _ticks(postmaster, reaped_children=True) + sum(_ticks(c) for c in children(postmaster)),
        "this driver": _ticks(os.getpid()),
    }


async def statements_reset(pool: asyncpg.Pool) -> bool:
    try:
        await pool.execute("SELECT pg_stat_statements_reset()")
    except asyncpg.PostgresError:
        return False  # no pg_stat_statements on this instance: CPU per process only
    return True


async def run(tickets: int) -> None:
    instance = os.environ.get("INFRA_NAME", "dev")
    pids = service_pids(instance)
    async with opened_pos(Settings.from_env(), "write-offs") as pos:
        merchant = await seed_due(pos, tickets, Report("expiry CPU", "python -m deploy.bench.expiry_cpu"))
        statements = await statements_reset(pos.pool)
        before, started = cpu_ticks(instance, pids), time.perf_counter()
        result = await flood(pos, merchant, tickets, memory_of(pids["redemption"]), {}, CpuShare(instance, pids))
        after, seconds = cpu_ticks(instance, pids), time.perf_counter() - started
        print(f"expired {tickets:,} in {result.elapsed:.1f} s = {tickets / result.elapsed:,.0f}/s; {result.cpu}")
        for name in before:
            used = (after[name] - before[name]) / TICKS
            print(f"  {name:<12} {used:6.1f} CPU-s {used / seconds:5.2f} cores {used * 1e6 / tickets:6.1f} µs/ticket")
        if statements:
            for row in await pos.pool.fetch(STATEMENTS):
                per_ticket = row["total_exec_time"] * 1000 / tickets
                print(f"  {per_ticket:6.1f} µs/ticket {row['calls']:7,} calls  {row['query']}")


def tickets_main(doc: str | None, run: Callable[[int], Coroutine[Any, Any, None]]) -> None:
    """The command line of an expiry tool: `--tickets N`, then `run(N)`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=300_000)
    asyncio.run(run(parser.parse_args().tickets))


def main() -> None:
    tickets_main(__doc__, run)


if __name__ == "__main__":
    main()
