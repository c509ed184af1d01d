"""CPU per write-off over Kafka, per process: redemption, its relay, the broker, PostgreSQL, this driver.

The machine is shared and often loaded, so latency says little; CPU seconds (utime + stime from /proc) do not depend
on load. The driver seeds fresh tickets, then sends WriteOff requests at a fixed pace and, over the window from
the first request to the last reply, reads each process's CPU delta, divided by the write-offs answered. It also
reads an idle stretch first: what each process costs per second with nothing to do (fetch waits, timers).

It is meant to run unchanged against older code too (the regression of issue 17 was found against 5c3b91b), so it
imports only what every version of the bench has, and uses its own reply consumer with the same fetch settings
whatever the version (the bench's own ReplyWatcher changed its fetch wait, which moves the broker's CPU):

    INFRA_NAME=redeem bash deploy/local/infra.sh up && source .run/redeem/env
    .venv/bin/python -m shared.setup --seed
    ECTICKET_SERVICES=redemption bash deploy/local/services.sh start
    nice -n 19 .venv/bin/python -m deploy.bench.redemption_cpu --rate 300 --seconds 20 --rounds 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.bench.common import ROOT, children, load_producer, percentile, service_pids
from deploy.bench.redemption import Pos
from deploy.bench.redemption_support import bench_merchant
from shared.infra.topics_admin import partitions_of
from shared.settings import Settings
from shared.topics import INGEST_REPLIES

try:  # Kafka security and the load generator's quota exemption arrived after 5c3b91b
    from shared.infra import kafka_auth, quotas
except ImportError:  # pragma: no cover - older code only
    kafka_auth = quotas = None  # type: ignore[assignment]

TICKS = os.sysconf("SC_CLK_TCK")
CLIENT_ID = quotas.LOAD_GENERATOR_CLIENT if quotas else "bench-load"
# The same for every version measured: the driver's fetches cost the broker CPU too (the bench's own ReplyWatcher went
# from aiokafka's 500 ms to 5 ms after 5c3b91b; BENCH_REPLY_FETCH_WAIT_MS measures what that alone costs).
REPLY_FETCH_WAIT_MS = int(os.environ.get("BENCH_REPLY_FETCH_WAIT_MS", "20"))


def kafka_security() -> dict[str, Any]:
    return kafka_auth.kafka_security() if kafka_auth else {}


def _ticks(pid: int, *, reaped: bool = False) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    return int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)


def cpu_ticks(instance: str, service: int) -> dict[str, int]:
    """CPU ticks so far of each process this measurement is about (every postgres process summed, exited ones
    included through the postmaster's reaped children)."""
    run = ROOT / ".run" / instance
    postmaster = int((run / "postgres" / "data" / "postmaster.pid").read_text().splitlines()[0])
    return {
        "redemption": _ticks(service),
        "relay": sum(_ticks(c) for c in children(service)),
        "kafka": _ticks(int((run / "kafka.pid").read_text().split()[0])),
        "postgres": _ticks(postmaster, reaped=True) + sum(_ticks(c) for c in children(postmaster)),
        "driver": _ticks(os.getpid()),
    }


def delta_ms(before: dict[str, int], after: dict[str, int]) -> dict[str, float]:
    return {name: (after[name] - before[name]) * 1000 / TICKS for name in before}


class Replies:
    """When each request's reply is on the replies topic (perf_counter) and its RtnCode."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.seen: dict[str, tuple[float, int]] = {}

    async def start(self) -> None:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            enable_auto_commit=False,
            fetch_max_wait_ms=REPLY_FETCH_WAIT_MS,
            **kafka_security(),
        )
        await self.consumer.start()
        known = await partitions_of(self.bootstrap, [INGEST_REPLIES])
        tps = [TopicPartition(INGEST_REPLIES, p) for p in known[INGEST_REPLIES]]
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)  # resolve "end" now, before any request is sent
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    payload = json.loads(r.value)["payload"]
                    self.seen.setdefault(payload["request_id"], (now, payload["rtn_code"]))

    async def wait(self, request_ids: list[str], seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while any(r not in self.seen for r in request_ids):
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{sum(r not in self.seen for r in request_ids)} requests unanswered")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        self._task.cancel()
        await self.consumer.stop()


def _row(label: str, per: dict[str, float], unit: str) -> str:
    cells = "  ".join(f"{name} {value:6.3f}" for name, value in per.items())
    return f"{label:<24} {cells}  total {sum(v for k, v in per.items() if k != 'driver'):6.3f} {unit}"


async def measure(args: argparse.Namespace) -> None:
    settings = Settings.from_env()
    instance = os.environ.get("INFRA_NAME", "bench")
    service = service_pids(instance)["redemption"]
    if quotas:
        await quotas.apply_quotas(settings.kafka_bootstrap, [quotas.Quota(CLIENT_ID, quotas.EXEMPT)])
    producer = await load_producer(settings.kafka_bootstrap, linger_ms=1, client_id=CLIENT_ID)
    replies = Replies(settings.kafka_bootstrap)
    await replies.start()
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        pos = Pos(settings, pool, producer, replies, await bench_merchant(settings, "cpu"))  # type: ignore[arg-type]
        await asyncio.sleep(1.0)  # the service's merchant view picks the new merchant up
        sent: dict[str, float] = {}
        warmup = pos.write_offs(await pos.tickets(500))
        await pos.send(warmup, None, sent)
        await replies.wait([r for r, _ in warmup], 120)
        count = args.count or int(args.rate * args.seconds)
        for round_no in range(1, args.rounds + 1):
            messages = pos.write_offs(await pos.tickets(count))
            await asyncio.sleep(3)  # the seeding's events are consumed and published; the relay is idle again
            before, t0 = cpu_ticks(instance, service), time.perf_counter()
            await asyncio.sleep(args.idle)
            idle = delta_ms(before, cpu_ticks(instance, service))
            print(_row(f"round {round_no} idle", {k: v / args.idle / 1000 for k, v in idle.items()}, "cores"))
            before, t0 = cpu_ticks(instance, service), time.perf_counter()
            await pos.send(messages, args.rate or None, sent)
            await replies.wait([r for r, _ in messages], 300)
            done = max(replies.seen[r][0] for r, _ in messages)
            used = delta_ms(before, cpu_ticks(instance, service))
            latency = [(replies.seen[r][0] - sent[r]) * 1000 for r, _ in messages]
            refused = sum(1 for r, _ in messages if replies.seen[r][1] != 1)
            print(_row(f"round {round_no} per write-off", {k: v / count for k, v in used.items()}, "CPU-ms"))
            print(
                f"{'':<24} {count} write-offs at {args.rate:g}/s in {done - t0:.1f} s, p50/p99"
                f" {percentile(latency, 0.5):.0f}/{percentile(latency, 0.99):.0f} ms, {refused} refused",
                flush=True,
            )
    finally:
        await pool.close()
        await replies.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rate",
        type=float,
        default=300.0,
        help="write-offs per second (0: a burst, as fast as the producer takes them)",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each paced round")
    parser.add_argument("--count", type=int, default=0, help="write-offs per round (default rate x seconds)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle CPU read before each round")
    asyncio.run(measure(parser.parse_args()))


if __name__ == "__main__":
    main()
