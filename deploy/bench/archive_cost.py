"""CPU seconds per paid order of payment confirmation and issuance (each with its relay process) and of PostgreSQL
(every backend), over a burst of paid orders sent with deploy/bench/issuance.py's own functions: what archiving the
signed inputs costs, compared between two checkouts of the services (docs/benchmarks.md, "The archive of signed
inputs").

Run against a running instance (`ECTICKET_SERVICES="payment_processor payment_confirmation issuance"
deploy/local/services.sh start`): `python -m deploy.bench.archive_cost 4000`. CPU time, unlike wall time, is not
stretched by what else the machine runs (it is still noisy on a loaded machine: run both variants alternately).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer

from deploy.bench.common import ROOT, children
from deploy.bench.issuance import IssuedWatcher, checkouts, send_orders
from shared.infra.kafka_auth import kafka_security
from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its children (a service's relay, the postmaster's backends)."""
    total = 0
    for one in (pid, *children(pid)):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def processes(instance: str) -> dict[str, int]:
    run = ROOT / ".run" / instance
    found = {name: int((run / "pids" / f"{name}.pid").read_text()) for name in ("payment_confirmation", "issuance")}
    found["postgres"] = int((run / "postgres" / "data" / "postmaster.pid").read_text().split()[0])
    return found


async def measure(orders: int, pids: dict[str, int]) -> None:
    bootstrap = Settings.from_env().kafka_bootstrap
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **kafka_security())
    await producer.start()
    watcher = IssuedWatcher(bootstrap)
    await watcher.start()
    try:
        client, run = MerchantClient(producer), uuid.uuid4().hex[:6].upper()
        warmup = [f"CW{run}{i:06d}" for i in range(200)]
        await send_orders(client, warmup, None, {}, await checkouts(warmup))
        await watcher.wait(warmup, 120)
        burst = [f"CB{run}{i:06d}" for i in range(orders)]
        paid = await checkouts(burst)  # paid at the processor beforehand, not measured
        await asyncio.sleep(3)
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.perf_counter()
        await send_orders(client, burst, None, {}, paid)
        await watcher.wait(burst, 600)
        await asyncio.sleep(2)  # the relays' last batches
        wall = time.perf_counter() - started
        for name, pid in pids.items():
            used = cpu_seconds(pid) - before[name]
            print(f"{name}: {used / orders * 1000:.3f} ms CPU/order ({used:.1f} s for {orders})")
        print(f"wall {wall:.1f} s, {orders / wall:.0f} orders/s")
    finally:
        await watcher.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(measure(int(sys.argv[1]) if len(sys.argv) > 1 else 4000, processes(os.environ["INFRA_NAME"])))
