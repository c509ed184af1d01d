"""Bounded storage (issue 15): paid orders streamed at a steady rate through payment confirmation and issuance with
a retention of minutes, sampling every schema's tables as they go.

The services run with `MESSAGING_RETENTION_DAYS` of a few minutes and `PRUNE_EVERY_SECONDS` of a few seconds, so a
run of an hour shows what months at the default 35 days would: the inbox and outbox stop growing once the oldest
rows pass the retention (rows bounded by rate × retention), their bytes level off once autovacuum lets new rows
reuse the space of pruned ones; the domain tables (payments, orders, tickets, the processor's trades) keep growing,
as they should. A few malformed requests sent first become dead letters, which pruning must leave alone.
While it runs, the prune statements are watched in pg_stat_activity, and each order's ingest→TicketsIssued latency
is compared between orders published in the second before one was seen running and the others.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from array import array
from bisect import bisect_left

import asyncpg

from deploy.bench import storage_probe as probe
from deploy.bench import storage_report
from deploy.bench.common import Report, load_producer
from deploy.bench.issuance import checkouts, issue_request
from deploy.bench.tail import from_the_end
from shared.admin.seed import TEST_MERCHANT
from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS, ISSUANCE_EVENTS

SERVICES = ("payment_processor", "payment_confirmation", "issuance")
SCHEMAS = ("payment_processor", "payment_confirmation", "issuance")
CHUNK = 1000  # orders checked out at the processor at once, the next chunk while this one is sent
MALFORMED = 5  # dead letters made on purpose before the load
# An order counts as meeting a prune if one was seen running in the second after it was published: the same
# length for every order (its whole time in flight would pick the slow orders, which meet more prunes).
EXPOSURE = 1.0
STALLED = 300.0  # seconds without a single order issued: the platform is stuck, not slow


def orders() -> int:
    return int(os.environ.get("BENCH_STORAGE_ORDERS", "1000000"))


def rate() -> float:
    """Orders/s: about two thirds of what the machine sustains with these services (issuance's paced figure)."""
    return float(os.environ.get("BENCH_STORAGE_RATE", "300"))


def retention_minutes() -> float:
    return float(os.environ.get("BENCH_STORAGE_RETENTION_MINUTES", "3"))


def prune_seconds() -> float:
    return float(os.environ.get("BENCH_STORAGE_PRUNE_SECONDS", "10"))


def environment() -> dict[str, str]:
    """What the services are started with for this benchmark."""
    return {
        "MESSAGING_RETENTION_DAYS": repr(retention_minutes() / (24 * 60)),
        "PRUNE_EVERY_SECONDS": repr(prune_seconds()),
    }


def command() -> str:
    return f"BENCH_STORAGE_ORDERS={orders()} make bench BENCH_ARGS='--only storage'"


class Issued:
    """Each order's send and TicketsIssued instants (perf_counter), indexed by the number in its trade no."""

    def __init__(self, count: int, prefix: str) -> None:
        self.sent = array("d", bytes(8 * count))
        self.seen = array("d", bytes(8 * count))
        self.prefix, self.count = prefix, 0

    async def watch(self, bootstrap: str) -> None:
        consumer = await from_the_end(bootstrap, [ISSUANCE_EVENTS])
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=50)
                now = time.perf_counter()
                for records in batch.values():
                    for r in records:
                        if b'"TicketsIssued"' not in r.value:
                            continue
                        trade_no = json.loads(r.value)["payload"]["ticket_trade_no"]
                        if trade_no.startswith(self.prefix):
                            i = int(trade_no[len(self.prefix) :])
                            if not self.seen[i]:
                                self.seen[i], self.count = now, self.count + 1
        finally:
            await consumer.stop()


async def send(client: MerchantClient, issued: Issued, total: int, per_second: float) -> None:
    """Paid orders at `per_second`, each checked out at the processor (a chunk ahead) and then published."""

    def chunk(start: int) -> list[str]:
        return [f"{issued.prefix}{i:07d}" for i in range(start, min(total, start + CHUNK))]

    paying = asyncio.create_task(checkouts(chunk(0)))
    start = time.perf_counter()
    for first in range(0, total, CHUNK):
        paid = await paying
        if first + CHUNK < total:
            paying = asyncio.create_task(checkouts(chunk(first + CHUNK)))
        pending = []
        for i, trade_no in enumerate(chunk(first), start=first):
            delay = start + i / per_second - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            issued.sent[i] = time.perf_counter()
            key = TEST_MERCHANT.encode()
            pending.append(await client.producer.send(INGEST_PAYMENTS, paid[trade_no], key=key))
            pending.append(await client.producer.send(INGEST_REQUESTS, issue_request(client, trade_no), key=key))
        await asyncio.gather(*pending)


async def run(settings: Settings, report: Report, pids: dict[str, int]) -> None:
    total, per_second = orders(), rate()
    every = max(1000, total // 20)
    producer = await load_producer(settings.kafka_bootstrap, linger_ms=5)
    conn = await asyncpg.connect(settings.database_url)
    issued = Issued(total, f"ST{uuid.uuid4().hex[:6].upper()}")
    watcher = asyncio.create_task(issued.watch(settings.kafka_bootstrap))
    prunes = probe.PruneWatch(settings.database_url)
    await prunes.start()
    try:
        for _ in range(MALFORMED):
            await producer.send_and_wait(INGEST_REQUESTS, b'{"not": json', key=TEST_MERCHANT.encode())
        t0 = time.perf_counter()
        samples = [await probe.sample(conn, SCHEMAS, pids, 0, t0)]
        cpu_before = probe.cpu_seconds(pids)
        sending = asyncio.create_task(send(MerchantClient(producer), issued, total, per_second))
        progress = (issued.count, time.perf_counter())
        while not sending.done() or issued.count < total:
            if issued.count >= samples[-1].orders + every:
                samples.append(await probe.sample(conn, SCHEMAS, pids, issued.count, t0))
            if sending.done():
                sending.result()  # a failed sender fails the benchmark
            if issued.count > progress[0]:
                progress = (issued.count, time.perf_counter())
            elif time.perf_counter() - progress[1] > STALLED:
                raise TimeoutError(f"{total - issued.count:,} orders not issued, none for {STALLED:.0f} s")
            await asyncio.sleep(0.5)
        loaded = time.perf_counter() - t0
        cpu_after = probe.cpu_seconds(pids)
        samples.append(await probe.sample(conn, SCHEMAS, pids, issued.count, t0))
        # Idle for one retention and two prune intervals: every row of the load is due, and must be gone.
        await asyncio.sleep(retention_minutes() * 60 + 2 * prune_seconds() + 5)
        idle = await probe.sample(conn, SCHEMAS, pids, issued.count, t0)
        steps = await probe.prune_steps(int(os.environ.get("METRICS_PORT_BASE", "9400")))
    finally:
        await prunes.stop()
        watcher.cancel()
        await conn.close()
        await producer.stop()
    latencies = [(issued.seen[i] - issued.sent[i]) * 1000 for i in range(total)]
    during = [during_prune(prunes.active_at, issued.sent[i], issued.sent[i] + EXPOSURE) for i in range(total)]
    storage_report.summary(report, total, per_second, loaded, latencies, during, prunes, steps)
    storage_report.tables(report, SCHEMAS, samples, idle, total / loaded, retention_minutes(), prune_seconds())
    report.add(
        "CPU seconds per 1,000 orders (service and its relay)",
        ", ".join(f"{n} {1000 * (cpu_after[n] - cpu_before[n]) / total:.1f}" for n in sorted(cpu_after)),
    )


def during_prune(active_at: list[float], start: float, end: float) -> bool:
    """Whether a prune statement was seen running between `start` and `end`."""
    i = bisect_left(active_at, start)
    return i < len(active_at) and active_at[i] <= end
