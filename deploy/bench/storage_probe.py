"""What the storage benchmark looks at: table rows and bytes per schema, the prune statements while they run, the
pruning timer's step durations (from the services' /metrics), and process memory and CPU."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
from prometheus_client.parser import text_string_to_metric_families

from deploy.bench.common import children, rss_mb
from shared.infra import metrics

# The tables every service has (shared/infra/sql): the ones retention must keep flat. Dead letters are kept on
# purpose (evidence until resolved) but must stay countable; the rest of a schema is domain state, which grows.
MESSAGING = ("inbox", "outbox", "dead_letters", "consumer_attempts", "outbox_chain_pending", "outbox_chain_tail")
PRUNED = ("inbox", "outbox")
# The statements of shared/infra/retention.py (and the gateway's replies), as pg_stat_activity shows them.
PRUNE_STATEMENTS = ("DELETE FROM inbox WHERE ctid%", "DELETE FROM outbox WHERE seq IN%", "DELETE FROM replies%")
PRUNE_TIMER = "inbox and outbox pruning"


@dataclass(frozen=True)
class Table:
    rows: int
    bytes: int


@dataclass(frozen=True)
class Sample:
    orders: int  # issued so far
    seconds: float  # since the load started
    tables: dict[tuple[str, str], Table]  # (schema, table)
    rss: dict[str, float]  # process name (its relay included) → MB

    def messaging_bytes(self, schema: str) -> int:
        return sum(t.bytes for (s, name), t in self.tables.items() if s == schema and name in MESSAGING)

    def domain(self, schema: str) -> Table:
        found = [t for (s, name), t in self.tables.items() if s == schema and name not in MESSAGING]
        return Table(sum(t.rows for t in found), sum(t.bytes for t in found))

    def table(self, schema: str, name: str) -> Table:
        return self.tables.get((schema, name), Table(0, 0))


async def sample(
    conn: asyncpg.Connection, schemas: Iterable[str], pids: dict[str, int], orders: int, t0: float
) -> Sample:
    """Rows counted exactly in the messaging tables (small, by design), estimated (n_live_tup) in the domain ones."""
    found = await conn.fetch(
        "SELECT schemaname, relname, n_live_tup, pg_total_relation_size(relid) AS bytes"
        " FROM pg_stat_user_tables WHERE schemaname = ANY($1)",
        list(schemas),
    )
    tables = {}
    for r in found:
        rows = r["n_live_tup"]
        if r["relname"] in MESSAGING:
            rows = await conn.fetchval(f'SELECT count(*) FROM "{r["schemaname"]}"."{r["relname"]}"')
        tables[(r["schemaname"], r["relname"])] = Table(int(rows), int(r["bytes"]))
    rss = {name: rss_mb(pid) + sum(rss_mb(c) for c in children(pid)) for name, pid in pids.items()}
    return Sample(orders, time.perf_counter() - t0, tables, rss)


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """user + system seconds of each process and its children alive now (its relay), which load does not distort."""
    tick = 100.0  # USER_HZ on Linux

    def of(pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick

    return {name: of(pid) + sum(of(c) for c in children(pid)) for name, pid in pids.items()}


@dataclass
class PruneWatch:
    """Polls pg_stat_activity every `every` seconds for a running prune statement: when one ran (perf_counter
    instants, to compare with the orders in flight then) and the longest running time seen per statement."""

    dsn: str
    every: float = 0.05
    active_at: list[float] = field(default_factory=list)
    longest: dict[tuple[int, float], float] = field(default_factory=dict)  # (pid, start) → seconds seen running
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self.dsn)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            running = await self._conn.fetch(
                "SELECT pid, extract(epoch FROM query_start) AS started, extract(epoch FROM now() - query_start) AS ran"
                " FROM pg_stat_activity WHERE state = 'active' AND query LIKE ANY($1)",
                list(PRUNE_STATEMENTS),
            )
            if running:
                self.active_at.append(time.perf_counter())
            for r in running:
                key = (int(r["pid"]), float(r["started"]))
                self.longest[key] = max(self.longest.get(key, 0.0), float(r["ran"]))
            await asyncio.sleep(self.every)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._conn.close()


@dataclass(frozen=True)
class TimerSteps:
    count: int
    mean_ms: float
    slowest_bucket_ms: float  # the upper bound of the highest histogram bucket any step fell in


async def prune_steps(base_port: int) -> dict[str, TimerSteps]:
    """The pruning timer's step durations per service, from each service's /metrics (shared/infra/metrics.py)."""
    found: dict[str, TimerSteps] = {}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3)) as http:
        for offset in sorted(set(metrics.PORT_OFFSETS.values())):
            try:
                async with http.get(f"http://127.0.0.1:{base_port + offset}/metrics") as answer:
                    text = await answer.text()
            except (aiohttp.ClientError, TimeoutError):
                continue
            for family in text_string_to_metric_families(text):
                if family.name != "ecticket_timer_step_duration_seconds":
                    continue
                mine = [s for s in family.samples if s.labels.get("timer") == PRUNE_TIMER]
                if not mine:
                    continue
                service = mine[0].labels["service"]
                count = next(s.value for s in mine if s.name.endswith("_count"))
                total = next(s.value for s in mine if s.name.endswith("_sum"))
                buckets = sorted(
                    (float(s.labels["le"]), s.value)
                    for s in mine
                    if s.name.endswith("_bucket") and s.labels["le"] != "+Inf"
                )
                slowest = next((le for le, n in buckets if n >= count), float("inf"))
                found[service] = TimerSteps(int(count), 1000 * total / max(count, 1), 1000 * slowest)
    return found
