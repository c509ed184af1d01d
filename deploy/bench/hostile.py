"""Issue 8: a hostile flood on both ingestion topics (deploy/bench/hostile_messages.py), against valid traffic.

Three runs, each of the same number of messages: valid paid orders as a burst (the valid-traffic rate), the
hostile flood as a burst (its drain rate; bar: at least half the valid rate), and the hostile flood paced at that
bar's rate. During both floods a valid merchant keeps sending paid orders (payment result, then Issue) and each is
timed from its Issue to its reply (bar: p99 under 1 s). Drained means every consumer group reading the ingestion
topics has committed past the last message sent and every outbox row written by then is published.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from deploy.bench.common import Report, percentile
from deploy.bench.cpu_share import CpuShare
from deploy.bench.hostile_messages import Flood, Hostile
from deploy.bench.hostile_watch import Drain, Outcomes
from deploy.bench.issuance import checkouts, issue_request
from deploy.bench.redemption_support import bench_merchant
from shared.admin.publish import put_products
from shared.admin.seed import TEST_MERCHANT
from shared.contracts.catalog import Product, UsagePeriodRule
from shared.contracts.common import TicketType
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import LOAD_GENERATOR_CLIENT, merchant_client_id, produce_quotas
from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS

# Everything that reads an ingestion topic, and the processor the valid merchant's orders are paid at.
SERVICES = ("payment_processor", "payment_confirmation", "issuance", "redemption")
GROUPS = {"payment-confirmation": [INGEST_PAYMENTS], "issuance": [INGEST_REQUESTS], "redemption": [INGEST_REQUESTS]}
LIVE_RATE = 25  # paid orders/s of the valid merchant during a flood
BAR_SHARE, BAR_P99_MS = 0.5, 1000  # issue 8
DRAIN_LIMIT_SECONDS = 900.0
QUIET_SECONDS = 10.0


def flood_size() -> int:
    """BENCH_HOSTILE_MESSAGES: messages in the flood, and in the valid burst it is compared with."""
    return int(os.environ.get("BENCH_HOSTILE_MESSAGES", "20000"))


def command(only: str | None) -> str:
    args = " BENCH_ARGS='--only hostile'" if only else ""
    unthrottled_flood = " BENCH_HOSTILE_UNTHROTTLED=1" if unthrottled() else ""
    return f"make bench{args} BENCH_HOSTILE_MESSAGES={flood_size()}{unthrottled_flood}"


@dataclass
class Bench:
    settings: Settings
    client: MerchantClient  # the load generator's producer: the valid burst measures the platform, unthrottled
    live_producer: AIOKafkaProducer  # the valid merchant's own producer, under its merchant quota
    flood_producer: AIOKafkaProducer  # an unidentified producer, under the default quota (when --unthrottled: not)
    outcomes: Outcomes
    drain: Drain
    cpu: CpuShare
    merchant_id: str  # the valid merchant

    @property
    def producer(self) -> AIOKafkaProducer:
        return self.client.producer

    async def orders(self, count: int, prefix: str) -> list[tuple[str, bytes, bytes]]:
        """Paid orders of the valid merchant: (request_id, payment result, Issue), paid at the processor (its
        genuine results, not delivered) and sealed ahead of time."""
        run = uuid.uuid4().hex[:6].upper()
        trade_nos = [f"{prefix}{run}{i:06d}" for i in range(count)]
        paid = await checkouts(trade_nos, self.merchant_id)
        out = []
        for trade_no in trade_nos:
            request = issue_request(self.client, trade_no, self.merchant_id)
            out.append((_request_id(request), paid[trade_no], request))
        return out

    async def send_orders(
        self,
        orders: Sequence[tuple[str, bytes, bytes]],
        sent: dict[str, float],
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        key, producer = self.merchant_id.encode(), producer or self.producer
        pending = []
        for request_id, payment, request in orders:
            pending.append(await producer.send(INGEST_PAYMENTS, payment, key=key))
            sent[request_id] = time.perf_counter()
            pending.append(await producer.send(INGEST_REQUESTS, request, key=key))
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)

    async def send_flood(self, flood: list[Hostile], rate: float | None) -> list[RecordMetadata]:
        """At `rate` messages/s, or as fast as the producer takes them; returns where each message landed."""
        start, pending, landed = time.perf_counter(), [], []
        for i, message in enumerate(flood):
            if rate is not None and (delay := start + i / rate - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            pending.append(await self.flood_producer.send(message.topic, message.value, key=message.key))
            if len(pending) >= 1000:
                landed += await asyncio.gather(*pending)
                pending.clear()
        return landed + list(await asyncio.gather(*pending))

    async def live(self, stop: asyncio.Event, sent: dict[str, float]) -> list[str]:
        """The valid merchant's paid orders at LIVE_RATE until `stop`; returns their request ids."""
        done: list[str] = []
        while not stop.is_set():
            [order] = await self.orders(
                1, "HL"
            )  # one at a time: sealing them all ahead would hold the loop for seconds
            await self.send_orders([order], sent, self.live_producer)
            done.append(order[0])
            await asyncio.sleep(1 / LIVE_RATE)
        return done

    def latencies_ms(self, request_ids: list[str], sent: dict[str, float]) -> list[float]:
        return [(self.outcomes.replies[r][0] - sent[r]) * 1000 for r in request_ids]

    def refused(self, request_ids: list[str]) -> int:
        return sum(1 for r in request_ids if self.outcomes.replies[r][2] != 1)


async def valid_burst(bench: Bench, messages: int, report: Report) -> float:
    """The valid-traffic rate: `messages` messages of paid orders sent at once, until all answered and drained."""
    warmup = await bench.orders(200, "HW")
    sent: dict[str, float] = {}
    await bench.send_orders(warmup, sent)
    await bench.outcomes.wait_replies([r for r, _, _ in warmup], 300)
    orders = await bench.orders(messages // 2, "HV")
    bench.cpu.start()
    t0 = time.perf_counter()
    await bench.send_orders(orders, sent)
    drained = await bench.drain.wait(await bench.drain.ends(), DRAIN_LIMIT_SECONDS)
    await bench.outcomes.wait_replies([r for r, _, _ in orders], DRAIN_LIMIT_SECONDS)
    done = max(drained, *(bench.outcomes.replies[r][0] for r, _, _ in orders))
    rate = 2 * len(orders) / (done - t0)
    report.add(
        f"valid traffic: {2 * len(orders):,} messages ({len(orders):,} paid orders) at once", f"{rate:,.0f} messages/s"
    )
    report.add("  CPU meanwhile, in cores", bench.cpu.describe(done - t0))
    report.add("  orders refused (expected 0)", str(bench.refused([r for r, _, _ in orders])))
    return rate


async def quiet_latency(bench: Bench, report: Report) -> None:
    """The valid merchant's live orders with nothing else going on: what the flood runs are compared with."""
    sent: dict[str, float] = {}
    stop = asyncio.Event()
    bench.cpu.start()
    t0 = time.perf_counter()
    live = asyncio.create_task(bench.live(stop, sent))
    await asyncio.sleep(QUIET_SECONDS)
    stop.set()
    live_ids = await live
    await bench.outcomes.wait_replies(live_ids, 120)
    latency = bench.latencies_ms(live_ids, sent)
    report.add(
        f"valid merchant's paid orders alone ({LIVE_RATE}/s, {len(live_ids)} sent) Issue→reply p50 / p99 / max",
        f"{percentile(latency, 0.5):,.0f} / {percentile(latency, 0.99):,.0f} / {max(latency):,.0f} ms",
    )
    report.add("  CPU meanwhile, in cores", bench.cpu.describe(time.perf_counter() - t0))


async def hostile_run(bench: Bench, flood: list[Hostile], rate: float | None, bar_rate: float, report: Report) -> None:
    """The flood at `rate` (None: at once) with the valid merchant's live orders; drain rate, p99, outcomes."""
    sent: dict[str, float] = {}
    stop = asyncio.Event()
    bench.cpu.start()
    t0 = time.perf_counter()
    live = asyncio.create_task(bench.live(stop, sent))
    landed = await bench.send_flood(flood, rate)
    produced = time.perf_counter() - t0
    try:
        drained: float | None = await bench.drain.wait(await bench.drain.ends(), DRAIN_LIMIT_SECONDS)
    except TimeoutError as exc:
        drained, why = None, str(exc)
    stop.set()
    live_ids = await live
    if drained is None:
        report.add(f"hostile flood of {len(flood):,} messages: drained", f"NOT DRAINED: {why}")
    elif rate is None:
        drain_rate = len(flood) / (drained - t0)
        verdict = "meets the bar" if drain_rate >= bar_rate else "MISSES the bar"
        report.add(
            f"hostile flood of {len(flood):,} messages at once: drain rate",
            f"{drain_rate:,.0f} messages/s ({drained - t0:,.1f} s) — {verdict} (half the valid rate: {bar_rate:,.0f}/s)",
        )
    else:
        # Paced, the drain cannot outrun the sending: what counts is how far behind the platform ended.
        report.add(
            f"hostile flood of {len(flood):,} messages at {rate:,.0f} messages/s (half the valid rate)",
            f"drained {drained - t0 - produced:,.1f} s after its last message was sent",
        )
    report.add("  time to produce the flood (client side)", f"{produced:,.1f} s")
    report.add("  CPU meanwhile, in cores", bench.cpu.describe((drained or time.perf_counter()) - t0))
    await _live_latency(bench, live_ids, sent, report)
    if rate is None:
        await asyncio.sleep(2.0)  # the last outcomes reach the watcher
        _outcomes(bench, flood, landed, report)


async def _live_latency(bench: Bench, live_ids: list[str], sent: dict[str, float], report: Report) -> None:
    try:
        await bench.outcomes.wait_replies(live_ids, 120)
    except TimeoutError as exc:
        report.add(f"  valid merchant's paid orders meanwhile ({len(live_ids)} sent)", f"NOT ALL ANSWERED: {exc}")
        return
    latency = bench.latencies_ms(live_ids, sent)
    p99 = percentile(latency, 0.99)
    verdict = "meets the bar" if p99 < BAR_P99_MS else "MISSES the bar"
    report.add(
        f"  valid merchant's paid orders meanwhile ({LIVE_RATE}/s, {len(live_ids)} sent) Issue→reply p50 / p99 / max",
        f"{percentile(latency, 0.5):,.0f} / {p99:,.0f} / {max(latency):,.0f} ms — {verdict} (p99 < {BAR_P99_MS} ms), "
        f"{bench.refused(live_ids)} refused",
    )


def _outcomes(bench: Bench, flood: list[Hostile], landed: list[RecordMetadata], report: Report) -> None:
    by_kind: dict[str, list[str]] = {}
    for message, where in zip(flood, landed, strict=True):
        position = (where.topic, where.partition, where.offset)
        by_kind.setdefault(message.kind, []).append(bench.outcomes.outcome(position, message.request_id, message.order))
    for kind, said in sorted(by_kind.items()):
        report.add(f"  outcomes: {kind} ({len(said):,})", Outcomes.summary(said))


async def liveness(pids: dict[str, int], pool: asyncpg.Pool, report: Report) -> None:
    alive = [name for name in SERVICES if name in pids and _alive(pids[name])]
    dead = [name for name in SERVICES if name not in alive]
    report.add("services still running afterwards", ", ".join(alive) + (f"; DIED: {', '.join(dead)}" if dead else ""))
    for schema in SERVICES:
        count = await pool.fetchval(f"SELECT count(*) FROM {schema}.dead_letters")
        report.add(f"  dead letters kept by {schema} (both floods)", f"{count:,}")


async def run(settings: Settings, report: Report, instance: str, pids: dict[str, int]) -> None:
    merchant_id = await valid_merchant(settings)
    producer = _producer(settings, LOAD_GENERATOR_CLIENT)
    live_producer = _producer(settings, merchant_client_id(merchant_id))
    # Unthrottled, the flood's producer exempts itself as the load generator does: the platform's drain alone.
    flood_producer = producer if unthrottled() else _producer(settings, None)
    for started in {producer, live_producer, flood_producer}:
        await started.start()
    outcomes = Outcomes(settings.kafka_bootstrap)
    await outcomes.start()
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        drain = Drain(settings.kafka_bootstrap, pool, GROUPS, list(SERVICES))
        client = MerchantClient(producer)
        cpu = CpuShare(instance, pids)
        bench = Bench(settings, client, live_producer, flood_producer, outcomes, drain, cpu, merchant_id)
        await drain.wait(await drain.ends(), DRAIN_LIMIT_SECONDS)  # whatever an earlier benchmark left
        count = flood_size()
        quota = (await produce_quotas(settings.kafka_bootstrap)).get(None)
        report.add(
            "the flood's producer",
            "exempt from quotas (BENCH_HOSTILE_UNTHROTTLED=1)"
            if unthrottled()
            else f"unidentified client id: produce quota {quota:,.0f} bytes/s"
            if quota
            else "unidentified client id, no quota set",
        )
        valid_rate = await valid_burst(bench, count, report)
        await quiet_latency(bench, report)
        bar_rate = BAR_SHARE * valid_rate
        # The flood names the seeded merchant (bad checksums, out-of-range values): a victim, not the measured one.
        flood = Flood(TEST_MERCHANT, random.Random(8))
        await hostile_run(bench, flood.messages(count), None, bar_rate, report)
        await hostile_run(bench, flood.messages(count), bar_rate, bar_rate, report)
        await liveness(pids, pool, report)
    finally:
        await pool.close()
        await outcomes.stop()
        for stopped in {producer, live_producer, flood_producer}:
            await stopped.stop()


def unthrottled() -> bool:
    """BENCH_HOSTILE_UNTHROTTLED=1: the flood exempt from the produce quota, to measure the consumers' drain alone."""
    return os.environ.get("BENCH_HOSTILE_UNTHROTTLED", "") == "1"


def _producer(settings: Settings, client_id: str | None) -> AIOKafkaProducer:
    identity = {"client_id": client_id} if client_id else {}  # None: aiokafka's own default, an unidentified one
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5, **identity, **kafka_security()
    )


async def valid_merchant(settings: Settings) -> str:
    """A new merchant selling the NT$500 pickup voucher the paid orders buy."""
    merchant_id = await bench_merchant(settings, "hostile")
    product = Product(
        merchant_id=merchant_id,
        item_no="PU000500",
        name="Tea",
        ticket_type=TicketType.PICKUP,
        face_value=500,
        usage=UsagePeriodRule(),
        updated_at=datetime.now(UTC),
    )
    await put_products(settings.kafka_bootstrap, [product])
    return merchant_id


def _request_id(request: bytes) -> str:
    return str(json.loads(request)["request_id"])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
