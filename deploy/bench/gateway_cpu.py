"""Where a WriteOff over HTTP spends CPU: one paced run, each process's CPU per request, the latency meanwhile.

The gateway bench (gateway.py) reports latency and the cores busy overall; on two shared cores that says little
about which process to make cheaper. This run splits the CPU (user + system from /proc, which other load on the
machine does not distort) by process: the gateway, redemption, each one's relay, Kafka, PostgreSQL and this client.
Against services already running on an instance (docs/benchmarks.md shows how they are started):

    python -m deploy.bench.gateway_cpu --instance gateway --rate 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import aiohttp
import asyncpg

from deploy.bench.common import ROOT, children, percentile, service_pids
from deploy.bench.cpu_share import TICKS, _ticks
from deploy.bench.gateway import WARMUP_SECONDS, HttpPos
from deploy.bench.redemption_support import bench_merchant
from shared.settings import Settings


def cpu_ticks(instance: str) -> dict[str, int]:
    """Ticks used so far by each service, its relay (apart), Kafka, PostgreSQL (every backend) and this client."""
    used: dict[str, int] = {"client": _ticks(os.getpid())}
    for name, pid in service_pids(instance).items():
        used[name] = _ticks(pid)
        used[f"{name} relay"] = sum(_ticks(c) for c in children(pid))
    run = ROOT / ".run" / instance
    used["kafka"] = _ticks(int((run / "kafka.pid").read_text().split()[0]))
    postmaster = int(Path(run / "postgres" / "data" / "postmaster.pid").read_text().splitlines()[0])
    used["postgres"] = _ticks(postmaster, reaped_children=True) + sum(_ticks(c) for c in children(postmaster))
    return used


async def measure(instance: str, url: str, rate: int, seconds: int) -> None:
    settings = Settings.from_env()
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512), timeout=aiohttp.ClientTimeout(total=120))
    try:
        pos = HttpPos(url, settings, pool, await bench_merchant(settings, "http write-offs"), session)
        await asyncio.sleep(1.0)  # the services' merchant views pick the new merchant up
        await pos.paced(pos.bodies(await pos.tickets(WARMUP_SECONDS * rate)), rate)
        bodies = pos.bodies(await pos.tickets(rate * seconds))
        before, t0 = cpu_ticks(instance), time.perf_counter()
        results = await pos.paced(bodies, rate)
        wall, after = time.perf_counter() - t0, cpu_ticks(instance)
    finally:
        await session.close()
        await pool.close()
    latency = [ms for ms, _ in results]
    failed = sum(1 for _, code in results if code != 1)
    print(f"{len(bodies)} WriteOffs at {rate}/s in {wall:.1f} s, not RtnCode 1: {failed}")
    print(f"latency p50 / p99 / max: {percentile(latency, 0.5):.0f} / {percentile(latency, 0.99):.0f} / "
          f"{max(latency):.0f} ms")  # fmt: skip
    total = 0.0
    for name in after:
        per_request = (after[name] - before.get(name, 0)) / TICKS / len(bodies) * 1000
        total += per_request
        print(f"  {name:<18} {per_request:6.3f} CPU-ms per request")
    print(f"  {'all':<18} {total:6.3f} CPU-ms per request ({total * rate / 1000:.2f} cores at {rate}/s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instance", default=os.environ.get("INFRA_NAME", "bench"))
    parser.add_argument("--url", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(measure(args.instance, args.url, args.rate, args.seconds))


if __name__ == "__main__":
    main()
