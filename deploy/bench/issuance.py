"""Paid orders end to end (payment + Issue request each) and the raw Kafka and Postgres ceilings.

Every order is paid at the payment-processor simulator first (a bulk checkout, Deliver=false, before the timed
window): the timed window publishes those genuine results with the Issue requests, as before, so it measures
confirmation (with the processor's verification) and issuance, not the checkout."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer

from deploy.bench.common import Report, load_producer, percentile, rss_and_relay_mb
from deploy.bench.tail import from_the_end
from shared.admin.seed import TEST_MERCHANT
from shared.ecticket.processor_query import processor_url
from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import ensure_topics
from shared.sandbox.aio import as_json, payment_result
from shared.sandbox.checkout import Checkout, checkout_many
from shared.sandbox.merchant import MerchantClient
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS, ISSUANCE_EVENTS, Topic

# What the benchmark needs running: the processor the orders are paid at, and the two services it measures.
SERVICES = ("payment_processor", "payment_confirmation", "issuance")
PRICE = 500  # one NT$500 pickup voucher per order


def issue_request(client: MerchantClient, trade_no: str, merchant_id: str = TEST_MERCHANT) -> bytes:
    """The Issue request of a paid order of one NT$500 pickup voucher."""
    data = {
        "MerchantID": merchant_id,
        "MerchantTradeNo": trade_no,
        "IssueType": "3",
        "TicketInfo": [{"ItemNo": "PU000500", "TicketAmount": 1}],
    }
    return json.dumps(client.request("Issue", data, merchant_id=merchant_id)).encode()


async def checkouts(trade_nos: list[str], merchant_id: str = TEST_MERCHANT) -> dict[str, bytes]:
    """Each order paid at the processor in bulk, not delivered: its genuine AIO result, for the caller to publish."""
    paying = [Checkout(merchant_id, trade_no, PRICE, deliver=False) for trade_no in trade_nos]
    return {r["MerchantTradeNo"]: as_json(r) for r in await checkout_many(processor_url(), paying)}


def sample_messages(client: MerchantClient, trade_no: str) -> tuple[bytes, bytes]:
    """A paid order's two messages as the ceilings send them (to a scratch topic, or as rows): the same sizes, with
    a result signed as a merchant could, since nothing confirms it there."""
    payment = as_json(payment_result(TEST_MERCHANT, trade_no, PRICE, paid_at=datetime.now(UTC)))
    return payment, issue_request(client, trade_no)


class IssuedWatcher:
    """Records when each order's TicketsIssued is seen."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.seen: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = await from_the_end(self.bootstrap, [ISSUANCE_EVENTS])
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    if b'"TicketsIssued"' in r.value:
                        trade_no = json.loads(r.value)["payload"]["ticket_trade_no"]
                        self.seen.setdefault(trade_no, now)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.consumer.stop()

    async def wait(self, trade_nos: list[str], seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while any(t not in self.seen for t in trade_nos):
            if time.perf_counter() > deadline:
                missing = sum(1 for t in trade_nos if t not in self.seen)
                raise TimeoutError(f"{missing} orders not issued after {seconds}s")
            await asyncio.sleep(0.05)


async def send_orders(
    client: MerchantClient, trade_nos: list[str], rate: float | None, sent: dict[str, float], paid: dict[str, bytes]
) -> None:
    """Produce payment (its result from `paid`) + request per order; `rate` orders/s, or as fast as possible."""
    start = time.perf_counter()
    pending = []
    for i, trade_no in enumerate(trade_nos):
        if rate is not None:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
        payment, request = paid[trade_no], issue_request(client, trade_no)
        sent[trade_no] = time.perf_counter()
        pending.append(await client.producer.send(INGEST_PAYMENTS, payment, key=TEST_MERCHANT.encode()))
        pending.append(await client.producer.send(INGEST_REQUESTS, request, key=TEST_MERCHANT.encode()))
        if len(pending) >= 1000:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)


async def end_to_end(bootstrap: str, orders: int, report: Report, sample_rss: Callable[[], dict[str, float]]) -> float:
    producer = await load_producer(bootstrap, linger_ms=5)
    client = MerchantClient(producer)
    watcher = IssuedWatcher(bootstrap)
    await watcher.start()
    peak: dict[str, float] = {}

    async def watch_memory() -> None:
        while True:
            for name, mb in sample_rss().items():
                peak[name] = max(peak.get(name, 0.0), mb)
            await asyncio.sleep(0.5)

    memory = asyncio.create_task(watch_memory())
    try:
        run = uuid.uuid4().hex[:6].upper()
        warmup = [f"BW{run}{i:06d}" for i in range(300)]
        sent: dict[str, float] = {}
        await send_orders(client, warmup, None, sent, await checkouts(warmup))
        await watcher.wait(warmup, 120)

        burst = [f"BB{run}{i:06d}" for i in range(orders)]
        paying = time.perf_counter()
        paid = await checkouts(burst)
        checkout_rate = orders / (time.perf_counter() - paying)
        t0 = time.perf_counter()
        await send_orders(client, burst, None, sent, paid)
        produced = time.perf_counter() - t0
        await watcher.wait(burst, 600)
        elapsed = max(watcher.seen[t] for t in burst) - t0
        throughput = orders / elapsed
        report.add(f"paid orders end to end, burst of {orders} (payment + Issue each)", f"{throughput:,.0f} orders/s")
        report.add("  time to produce the burst (client side)", f"{produced:.1f} s")
        report.add("  its checkout at the processor beforehand (bulk, not timed)", f"{checkout_rate:,.0f} orders/s")
        burst_latency = [(watcher.seen[t] - sent[t]) * 1000 for t in burst]
        report.add(
            "  ingest→TicketsIssued latency in the burst p50 / p99",
            f"{percentile(burst_latency, 0.5):,.0f} / {percentile(burst_latency, 0.99):,.0f} ms",
        )

        rate = max(10.0, throughput / 2)
        paced = [f"BP{run}{i:06d}" for i in range(int(rate * 10))]
        await send_orders(client, paced, rate, sent, await checkouts(paced))
        await watcher.wait(paced, 300)
        latency = [(watcher.seen[t] - sent[t]) * 1000 for t in paced]
        report.add(
            f"ingest→TicketsIssued latency at {rate:,.0f} orders/s (half the burst rate) p50 / p99",
            f"{percentile(latency, 0.5):,.0f} / {percentile(latency, 0.99):,.0f} ms",
        )
        for name, mb in sorted(peak.items()):
            report.add(f"peak RSS of {name}", f"{mb:,.0f} MB")
        return throughput
    finally:
        memory.cancel()
        await watcher.stop()
        await producer.stop()


@dataclass(frozen=True)
class KafkaCeiling:
    orders_per_second: float
    cpu_per_record: float | None  # CPU seconds, the client's and the broker's, when the caller counted them


async def kafka_ceiling(
    bootstrap: str, orders: int, report: Report, cpu_seconds: Callable[[], float] | None = None
) -> KafkaCeiling:
    """aiokafka alone: produce the same 2×N messages to a scratch topic and consume them back. With `cpu_seconds`
    (the CPU used so far by whatever the caller counts: this client and the broker), also what one record cost."""
    topic = f"bench.scratch.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, (Topic(topic, 6, 3600_000, False, "MerchantID", "benchmark scratch"),))
    producer = await load_producer(bootstrap, linger_ms=5)
    client = MerchantClient(producer)
    bodies = [m for i in range(orders) for m in sample_messages(client, f"KC{i:08d}")]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=topic,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=1000,
        **kafka_security(),
    )
    await consumer.start()
    cpu_before = cpu_seconds() if cpu_seconds else 0.0
    t0 = time.perf_counter()
    futures = [await producer.send(topic, body, key=TEST_MERCHANT.encode()) for body in bodies]
    await asyncio.gather(*futures)
    received = 0
    while received < len(bodies):
        batch = await consumer.getmany(timeout_ms=200, max_records=1000)
        received += sum(len(records) for records in batch.values())
        if batch:
            await consumer.commit()
    elapsed = time.perf_counter() - t0
    cpu_used = cpu_seconds() - cpu_before if cpu_seconds else 0.0
    await consumer.stop()
    await producer.stop()
    rate = orders / elapsed
    report.add("raw ceiling: aiokafka produce+consume of the same messages", f"{rate:,.0f} orders/s")
    if cpu_seconds:
        report.add(
            "  raw ceiling: CPU per record produced and consumed once (the client and the broker)",
            f"{cpu_used / len(bodies) * 1e6:,.0f} µs",
        )
    return KafkaCeiling(rate, cpu_used / len(bodies) if cpu_seconds else None)


async def postgres_ceiling(dsn: str, orders: int, report: Report) -> float:
    """asyncpg alone: insert the same rows (payment, order, ticket, 3 outbox events) in batches of 500."""
    conn = await asyncpg.connect(dsn)
    await conn.execute("DROP SCHEMA IF EXISTS bench_ceiling CASCADE; CREATE SCHEMA bench_ceiling")
    await conn.execute("CREATE TABLE bench_ceiling.rows (id text PRIMARY KEY, kind text, body jsonb)")
    body = json.dumps(payment_result(TEST_MERCHANT, "X" * 20, PRICE, paid_at=datetime.now(UTC)))
    t0 = time.perf_counter()
    for start in range(0, orders, 500):
        ids = [
            f"{kind}{i}" for i in range(start, min(orders, start + 500)) for kind in ("p", "o", "t", "e1", "e2", "e3")
        ]
        async with conn.transaction():
            await conn.execute("INSERT INTO bench_ceiling.rows SELECT unnest($1::text[]), 'x', $2::jsonb", ids, body)
    elapsed = time.perf_counter() - t0
    await conn.execute("DROP SCHEMA bench_ceiling CASCADE")
    await conn.close()
    rate = orders / elapsed
    report.add("raw ceiling: asyncpg insert of the same rows (6 per order, batches of 500)", f"{rate:,.0f} orders/s")
    return rate


async def run(bootstrap: str, dsn: str, orders: int, report: Report, pids: dict[str, int]) -> None:
    def sample() -> dict[str, float]:
        measured = {name: rss_and_relay_mb(pid) for name, pid in pids.items()}
        services = {name: service for name, (service, _) in measured.items()}
        relays = {f"{name}'s relay process": relay for name, (_, relay) in measured.items()}
        return services | relays

    e2e = await end_to_end(bootstrap, orders, report, sample)
    kafka = (await kafka_ceiling(bootstrap, orders, report)).orders_per_second
    pg = await postgres_ceiling(dsn, orders, report)
    report.add("end to end as a share of the Kafka / Postgres ceilings", f"{e2e / kafka:.0%} / {e2e / pg:.0%}")
