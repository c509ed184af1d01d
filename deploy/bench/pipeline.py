"""The whole pipeline at once (issue 17): every service running, paid orders from ingestion to tickets issued and
escrow posted in the ledger, then write-offs to money released; and where the CPU went, per process.

A round: a burst of paid orders (paid at the processor beforehand, in bulk: the timed window publishes their AIO
results with the Issue requests, as the issuance benchmark does); an order is through when its TicketsIssued is
out and settlement has posted its payment into escrow. Then one write-off per ticket of the burst, through
redemption to settlement's `write_off` entry (escrow released to the merchant). The first round, on services just
started, is reported apart; the second is the measure, followed by orders at half its rate, for latency.
CPU seconds per order of every process (each service, each relay, the broker, every PostgreSQL backend) over each
phase, from /proc: where a paid order's CPU goes. Then the raw Kafka and PostgreSQL ceilings of the issuance
benchmark, measured in the same run on the same instance with the services idle, and the pipeline's rate as a share
of each. And each service's peak resident memory over the whole run, its relay child included (issue 17's bar: under
150 MB each).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from deploy.bench import cpu_budget
from deploy.bench.common import Report, load_producer, percentile, rss_and_relay_mb
from deploy.bench.cpu_share import own_and_children_seconds, process_cpu_seconds
from deploy.bench.issuance import checkouts, kafka_ceiling, postgres_ceiling, send_orders
from deploy.bench.profiling import RATE as PROFILE_RATE
from deploy.bench.profiling import Profiles
from deploy.bench.tail import from_the_end
from shared.admin.seed import TEST_MERCHANT
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import partitions_of
from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings
from shared.topics import INGEST_REQUESTS, ISSUANCE_EVENTS, SETTLEMENT_EVENTS

CODE_KEY = CodeKey.from_hex(Settings.from_env().code_key_hex)  # TicketsIssued carries the WriteOffNo sealed

SERVICES = ("payment_processor", "payment_confirmation", "issuance", "redemption", "escrow_settlement", "escrow_bank")
BURST = 5000


def command(only: str | None) -> str:
    return "make bench BENCH_ARGS='--only pipeline'" if only else "make bench"


@dataclass
class Seen:
    """When each order's TicketsIssued and payment entry, and each ticket's write-off entry, were seen."""

    issued: dict[str, float] = field(default_factory=dict)
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # order -> its tickets' write-off codes
    escrowed: dict[str, float] = field(default_factory=dict)
    released: dict[str, float] = field(default_factory=dict)  # ticket -> write_off entry seen

    def through(self, trade_no: str) -> float | None:
        """When the order was both issued and escrowed (None until then)."""
        if trade_no in self.issued and trade_no in self.escrowed:
            return max(self.issued[trade_no], self.escrowed[trade_no])
        return None


class Watcher:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.seen = Seen()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.consumer = await from_the_end(self.bootstrap, [ISSUANCE_EVENTS, SETTLEMENT_EVENTS])
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        seen = self.seen
        while True:
            batch = await self.consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batch.values():
                for r in records:
                    value = r.value or b""
                    if b'"TicketsIssued"' in value:
                        payload = json.loads(value)["payload"]
                        seen.issued.setdefault(payload["ticket_trade_no"], now)
                        seen.codes[payload["ticket_trade_no"]] = {
                            t["ticket_no"]: CODE_KEY.open(t["ticket_no"], t["write_off_sealed"])
                            for t in payload["tickets"]
                        }
                    elif b'"LedgerEntryPosted"' in value:
                        payload = json.loads(value)["payload"]
                        if payload["kind"] == "payment" and payload["ticket_trade_no"]:
                            seen.escrowed.setdefault(payload["ticket_trade_no"], now)
                        elif payload["kind"] == "write_off" and payload["ticket_no"]:
                            seen.released.setdefault(payload["ticket_no"], now)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.consumer.stop()

    async def until(self, done: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.perf_counter() + seconds
        while not done():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{what} not through after {seconds:.0f} s")
            await asyncio.sleep(0.05)


def write_off(client: MerchantClient, code: str) -> bytes:
    data = {"MerchantID": TEST_MERCHANT, "WriteOffNo": code, "Action": "1", "Operator": "bench"}
    return json.dumps(client.request("WriteOff", data, merchant_id=TEST_MERCHANT)).encode()


def cpu_rows(report: Report, before: dict[str, float], after: dict[str, float], orders: int, label: str) -> None:
    total = 0.0
    for name in sorted(after):
        used = after[name] - before.get(name, 0.0)
        total += used
        report.add(f"  CPU per {label}: {name}", f"{used / orders * 1000:,.2f} ms")
    report.add(f"  CPU per {label}: all processes", f"{total / orders * 1000:,.2f} ms")


@dataclass
class PeakMemory:
    """Each service's and its relay child's highest resident memory, sampled every RSS_SAMPLE_SECONDS."""

    pids: dict[str, int]
    service: dict[str, float] = field(default_factory=dict)
    relay: dict[str, float] = field(default_factory=dict)

    async def sample(self) -> None:
        while True:
            self.sample_once()
            await asyncio.sleep(RSS_SAMPLE_SECONDS)

    def sample_once(self) -> None:
        for name, pid in self.pids.items():
            service, relay = rss_and_relay_mb(pid)
            self.service[name] = max(self.service.get(name, 0.0), service)
            self.relay[name] = max(self.relay.get(name, 0.0), relay)

    def rows(self, report: Report) -> None:
        for name in sorted(self.pids):
            service, relay = self.service.get(name, 0.0), self.relay.get(name, 0.0)
            report.add(
                f"peak RSS of {name} + its relay process", f"{service:,.0f} + {relay:,.0f} = {service + relay:,.0f} MB"
            )


RSS_SAMPLE_SECONDS = 0.5
# An order is through when issued and escrowed; the records its services write after that (the bank's side, the
# relays' last batches) are counted if they come within this many seconds.
RECORDS_SETTLE_SECONDS = 3.0


async def run(
    bootstrap: str, dsn: str, report: Report, instance: str, pids: dict[str, int], profiles: Profiles | None = None
) -> None:
    """`profiles`: sample every service over the measured burst (`make profile`), and add the CPU budget table."""
    memory = PeakMemory(pids)
    sampling = asyncio.create_task(memory.sample())
    try:
        measured = await _phases(bootstrap, report, instance, pids, profiles)
    finally:
        sampling.cancel()
    memory.rows(report)
    # After the phases, so neither ceiling shares the machine with the pipeline; the same two messages per order.
    kafka = await kafka_ceiling(bootstrap, BURST, report, lambda: broker_and_client_cpu(instance))
    pg = await postgres_ceiling(dsn, BURST, report)
    report.add(
        "paid orders through the pipeline as a share of the Kafka / Postgres ceilings",
        f"{measured.orders / kafka.orders_per_second:.0%} / {measured.orders / pg:.0%}",
    )
    per_order = {topic: count / BURST for topic, count in sorted(measured.records.items()) if count}
    report.add(
        "records written per paid order (the measured burst, every platform topic)",
        f"{sum(per_order.values()):.1f}: " + ", ".join(f"{short(t)} {n:.1f}" for t, n in per_order.items()),
    )
    if kafka.cpu_per_record is not None:
        report.add(
            "  Kafka's floor per paid order: those records, each produced and consumed once at the ceiling's CPU",
            f"{sum(per_order.values()) * kafka.cpu_per_record * 1000:.2f} ms",
        )


def broker_and_client_cpu(instance: str) -> float:
    used = process_cpu_seconds(instance, {})
    return used.get("kafka", 0.0) + used["benchmark client"]


def short(topic: str) -> str:
    """A topic's name without the platform's prefix and version: `ecticket.payments.events.v1` -> payments.events."""
    return re.sub(r"^ecticket\.|\.v1(?=\.|$)", "", topic)


async def records_written(bootstrap: str) -> dict[str, int]:
    """Records written so far to every platform topic (its partitions' end offsets, summed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ecticket-bench", **kafka_security())
    await admin.start()
    try:
        topics = [t for t in await admin.list_topics() if t.startswith("ecticket.")]
    finally:
        await admin.close()
    parts = await partitions_of(bootstrap, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_security())
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(t, p) for t, ps in parts.items() for p in ps])
    finally:
        await consumer.stop()
    written: dict[str, int] = {}
    for tp, end in ends.items():
        written[tp.topic] = written.get(tp.topic, 0) + end
    return written


async def _phases(
    bootstrap: str, report: Report, instance: str, pids: dict[str, int], profiles: Profiles | None
) -> Round:
    """The phases of the module's docstring; returns the measured round."""
    producer = await load_producer(bootstrap, linger_ms=5)
    watcher = Watcher(bootstrap)
    await watcher.start()
    bench = Rounds(MerchantClient(producer), watcher, instance, pids)
    budget = Budget(profiles, pids)
    try:
        warmup = bench.names("PW", 200)
        await send_orders(bench.client, warmup, None, {}, await checkouts(warmup))
        await watcher.until(lambda: all(watcher.seen.through(t) for t in warmup), 120, "the warm-up")

        # A platform just started is slower: the broker's JVM compiles its hot code under the first minutes of
        # load, and every service and PostgreSQL backend fills its caches. The first round is reported on its own;
        # the second, the platform as it runs for days, is the measure.
        fresh = await bench.round("PF")
        report.add(
            f"first round on the platform just started: paid orders, burst of {BURST} / write-offs",
            f"{fresh.orders:,.0f} orders/s ({fresh.order_cpu.total_ms:,.2f} ms CPU each)"
            f" / {fresh.write_offs:,.0f} /s ({fresh.write_off_cpu.total_ms:,.2f} ms CPU each)",
        )
        warm = await bench.round("PB", budget)
        report.add(f"paid orders, ingest → issued and escrow posted, burst of {BURST}", f"{warm.orders:,.0f} orders/s")
        warm.order_cpu.rows(report, "paid order")

        rate = max(10.0, warm.orders / 2)
        paced = bench.names("PP", int(rate * 10))
        sent: dict[str, float] = {}
        await send_orders(bench.client, paced, rate, sent, await checkouts(paced))
        await watcher.until(lambda: all(watcher.seen.through(t) for t in paced), 300, "the paced orders")
        latency = [((watcher.seen.through(t) or 0.0) - sent[t]) * 1000 for t in paced]
        report.add(
            f"  latency ingest → issued and escrowed at {rate:,.0f} orders/s p50 / p99",
            f"{percentile(latency, 0.5):,.0f} / {percentile(latency, 0.99):,.0f} ms",
        )
        report.add(f"write-offs → money released, {warm.write_off_cpu.count:,} at once", f"{warm.write_offs:,.0f} /s")
        warm.write_off_cpu.rows(report, "write-off")
        report.after += budget.table()
        return warm
    finally:
        await watcher.stop()
        await producer.stop()


@dataclass(frozen=True)
class Cpu:
    """Each process's CPU seconds over a phase, and how many orders or write-offs it carried."""

    before: dict[str, float]
    after: dict[str, float]
    count: int

    @property
    def total_ms(self) -> float:
        return sum(self.after[n] - self.before.get(n, 0.0) for n in self.after) / self.count * 1000

    def rows(self, report: Report, label: str) -> None:
        cpu_rows(report, self.before, self.after, self.count, label)


@dataclass(frozen=True)
class Round:
    orders: float  # paid orders through per second
    order_cpu: Cpu
    write_offs: float  # write-offs released per second
    write_off_cpu: Cpu
    records: dict[str, int]  # records written to each platform topic during the burst of paid orders


@dataclass
class Rounds:
    """Bursts of paid orders, each followed by one write-off per ticket it issued."""

    client: MerchantClient
    watcher: Watcher
    instance: str
    pids: dict[str, int]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:6].upper())

    def names(self, prefix: str, count: int) -> list[str]:
        return [f"{prefix}{self.run_id}{i:06d}" for i in range(count)]

    async def round(self, prefix: str, budget: Budget | None = None) -> Round:
        seen, until = self.watcher.seen, self.watcher.until
        burst = self.names(prefix, BURST)
        paid = await checkouts(burst)
        if budget:
            budget.start()
        records_before = await records_written(self.watcher.bootstrap)
        before, t0 = process_cpu_seconds(self.instance, self.pids, relays_apart=True), time.perf_counter()
        await send_orders(self.client, burst, None, {}, paid)
        await until(lambda: all(seen.through(t) for t in burst), 600, "the burst")
        orders = BURST / (max(seen.through(t) or 0.0 for t in burst) - t0)
        order_cpu = Cpu(before, process_cpu_seconds(self.instance, self.pids, relays_apart=True), BURST)
        if budget:
            budget.stop(BURST)
        await asyncio.sleep(RECORDS_SETTLE_SECONDS)
        records_after = await records_written(self.watcher.bootstrap)
        records = {t: n - records_before.get(t, 0) for t, n in records_after.items()}

        tickets = {ticket: code for t in burst for ticket, code in seen.codes[t].items()}
        requests = [write_off(self.client, code) for code in tickets.values()]
        before, t0 = process_cpu_seconds(self.instance, self.pids, relays_apart=True), time.perf_counter()
        producer = self.client.producer
        await asyncio.gather(*[await producer.send(INGEST_REQUESTS, r, key=TEST_MERCHANT.encode()) for r in requests])
        await until(lambda: all(t in seen.released for t in tickets), 600, "the write-offs")
        write_offs = len(tickets) / (max(seen.released[t] for t in tickets) - t0)
        write_off_cpu = Cpu(before, process_cpu_seconds(self.instance, self.pids, relays_apart=True), len(tickets))
        return Round(orders, order_cpu, write_offs, write_off_cpu, records)


@dataclass
class Budget:
    """Each service's own and its relay's CPU over the measured burst, and, under `make profile`, its samples: the
    per-order CPU budget by kind of work (deploy/bench/cpu_budget.py)."""

    profiles: Profiles | None
    pids: dict[str, int]
    per_order_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    _before: dict[str, tuple[float, float]] = field(default_factory=dict)

    def start(self) -> None:
        if self.profiles:
            self.profiles.start()
        self._before = own_and_children_seconds(self.pids)

    def stop(self, orders: int) -> None:
        after = own_and_children_seconds(self.pids)
        if self.profiles:
            self.profiles.stop()
        self.per_order_ms = {
            name: ((own - self._before[name][0]) / orders * 1000, (relay - self._before[name][1]) / orders * 1000)
            for name, (own, relay) in after.items()
        }

    def table(self) -> list[str]:
        if not self.profiles:
            return []
        heading = (
            f"\nCPU per paid order by kind of work, ms, over the measured burst (`make profile`: py-spy at"
            f" {PROFILE_RATE} Hz on every service, which slows the burst; the kinds: deploy/bench/cpu_budget.py):\n"
        )
        return [heading, *cpu_budget.table(self.per_order_ms, self.profiles.folder)]
