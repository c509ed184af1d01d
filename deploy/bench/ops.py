"""The ops app (issue 14): how many events a second it folds, and how long an event takes to reach the page.

1. Throughput: a new ops app (its own consumer group) starts at the topics' ends; BENCH_OPS_EVENTS ledger entries
   (orders of 5 entries over 100 merchants, on the settlement topic only: see `order_events`) are published as
   fast as the producer goes, and the rate is their number over the time from the first send until the app has
   folded the last; with the process's CPU time per event. Bar: >= 5,000 events/s. On a shared machine this is
   often the producer's rate (the app keeps up with it), so:
1b. Catching up: the app is stopped, BENCH_OPS_EVENTS more are published, and the app is started again: it resumes
   at its committed offsets with all of them as its backlog. The rate is the events folded from the first batch
   seen folded to the last, over that time: the most the app folds, no producer competing for the cores.
2. Event -> page: with the app caught up and a background load of LOAD_RATE events/s, PROBES orders are issued one
   by one; each one's latency is its publish -> the first server-sent event (what the page renders from) whose
   counters include it. Bar: p99 < 2 s.

Run directly against an instance: `python deploy/bench/ops.py` (after `source .run/<name>/env`), or
`deploy/bench/run.py --only ops`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer

from shared.infra.kafka_auth import kafka_security

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.bench.common import ROOT, Report, peak_rss_mb, percentile, rss_and_relay_mb, rss_mb
from shared.contracts.events import Outgoing, Producer
from shared.contracts.settlement import LedgerEntryPosted, PostingLine, SettlementExceptionRaised
from shared.infra.seal import platform_keyring
from shared.settings import Settings

SERVICES: tuple[str, ...] = ()  # the app is started by the benchmark itself (a consumer group of its own)
EVENTS = int(os.environ.get("BENCH_OPS_EVENTS", "100000"))
MERCHANTS = 100
LOAD_RATE = int(os.environ.get("BENCH_OPS_LOAD", "2000"))  # events/s published beside the latency probes
PROBES = 200
LOAD_POOL_SECONDS = 10  # seconds of background load built in advance (then sent again in a cycle)
PRODUCER = Producer("bench")


def command(only: str | None) -> str:
    return "make bench BENCH_ARGS='--only ops'" if only else "make bench"


def order_events(merchant: str, trade_no: str, at: datetime) -> list[Outgoing]:
    """An order's life as the ledger posts it: paid into escrow, two vouchers released, one refunded with a fee.

    Only settlement's events: no service consumes that topic (the ops app and the audit tool read it), so the
    benchmark's orders load nothing but the app measured, and leave no payments or tickets for the services."""
    key = f"{merchant}/{trade_no}"
    entries = (
        ("payment_received", (("bank_cash", "escrow-bank", 450), ("escrow_held", key, -450))),
        ("write_off", (("escrow_held", key, 150), ("merchant_payable", merchant, -150))),
        ("write_off", (("escrow_held", key, 150), ("merchant_payable", merchant, -150))),
        (
            "refund",
            (("escrow_held", key, 150), ("merchant_fee_income", merchant, -15), ("consumer_refund_payable", key, -135)),
        ),
        ("refund_sent", (("consumer_refund_payable", key, 135), ("bank_cash", "escrow-bank", -135))),
    )
    return [
        PRODUCER.event(
            LedgerEntryPosted(
                entry_id=uuid.uuid4(),
                cause_id=f"{trade_no}/{n}",
                business_date=at.date(),
                kind=kind,
                merchant_id=merchant,
                ticket_trade_no=trade_no,
                ticket_no=None,
                memo="",
                postings=tuple(PostingLine(account_kind=k, owner=o, amount=a) for k, o, a in lines),
            ),
            uuid.uuid4(),
            at,
        )
        for n, (kind, lines) in enumerate(entries)
    ]


def probe_event(subject: str) -> Outgoing:
    """A probe: a settlement exception (the load raises none, so the exceptions counted are the probes)."""
    event = SettlementExceptionRaised(kind="bench_probe", cause_id=subject, subject=f"BENCHPROBE/{subject}",
                                      merchant_id="BENCHPROBE", detail="bench probe")  # fmt: skip
    return PRODUCER.event(event, uuid.uuid4(), datetime.now(UTC))


keyring = platform_keyring()


async def publish(producer: AIOKafkaProducer, events: list[Outgoing]) -> None:
    """Sealed as settlement's relay would seal them: the ops app dead-letters a record without the seal."""
    for start in range(0, len(events), 5000):
        futures = [
            await producer.send(e.topic, e.value, key=key, headers=keyring.headers(e.topic, key, e.value))
            for e in events[start : start + 5000]
            for key in [e.key.encode()]
        ]
        await asyncio.gather(*futures)


def bulk_producer(settings: Settings) -> AIOKafkaProducer:
    """Batching, and patient: on a shared machine the broker may be paused for longer than aiokafka's 40 s default."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=20,
        max_batch_size=262144,
        request_timeout_ms=600_000,
        **kafka_security(),
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class OpsApp:
    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-ops-"))
        self.env = {**os.environ, "KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "DATABASE_URL": settings.database_url,
                    "OPS_APP_ID": f"ops-bench-{uuid.uuid4().hex[:6]}", "OPS_WEB_PORT": str(self.port),
                    "OPS_DATA_DIR": str(self.workdir / "data"), "ECTICKET_READY_FILE": str(self.workdir / "ready"),
                    "OPS_OFFSET_RESET": "latest"}  # fmt: skip
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        (self.workdir / "ready").unlink(missing_ok=True)
        with (self.workdir / "ops.log").open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.ops", cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        while not (self.workdir / "ready").exists():
            assert self.process.returncode is None, (self.workdir / "ops.log").read_text()[-3000:]
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 30)

    async def summary(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get(f"http://127.0.0.1:{self.port}/api/summary") as response:
            body: dict[str, Any] = await response.json()
            return body


def folded(summary: dict[str, Any]) -> int:
    return int(summary["counters"].get("events", 0)) + int(summary["counters"].get("poison_events", 0))


async def throughput(settings: Settings, app: OpsApp, report: Report) -> None:
    """Start the app at the topics' ends, then publish EVENTS as fast as the producer goes: the rate is EVENTS over
    the time from the first send until the app has folded the last (the producer alone takes a fraction of it)."""
    events = bench_events()
    producer = bulk_producer(settings)
    await producer.start()
    async with aiohttp.ClientSession() as http:
        await synced(app, http, producer)
        before = folded(await app.summary(http))
        cpu_before = cpu_seconds(app)
        started = time.perf_counter()
        await publish(producer, events)
        published = time.perf_counter() - started
        while True:  # polled like the page would; the summary is a dictionary read in the app
            if folded(await app.summary(http)) - before >= len(events):
                break
            await asyncio.sleep(0.1)
        seconds = time.perf_counter() - started
        cpu = cpu_seconds(app) - cpu_before
    await producer.stop()
    report.add("ledger entries published (orders of 5, 100 merchants)", f"{len(events):,} in {published:.1f} s")
    report.add(
        "events folded per second, first send to last folded (bar >= 5,000/s)",
        f"{len(events) / seconds:,.0f} ({seconds:.1f} s)",
    )
    report.add(
        "ops process CPU per event (user + system)",
        f"{cpu / len(events) * 1e6:.0f} µs ({len(events) / cpu:,.0f} events per CPU-second)",
    )
    report.add("load average during the run (other sessions share the 2 cores)", os.getloadavg().__str__())
    assert app.process is not None
    report.add("ops process RSS", f"{rss_mb(app.process.pid):.0f} MB")


def bench_events() -> list[Outgoing]:
    at = datetime.now(UTC)
    orders = [
        order_events(f"BENCH{n % MERCHANTS:03d}", f"B{n:07d}{uuid.uuid4().hex[:4]}", at) for n in range(EVENTS // 5)
    ]
    return [e for order in orders for e in order]


async def catch_up(settings: Settings, app: OpsApp, report: Report) -> None:
    """Stop the app, publish EVENTS, start it again: its rate through that backlog (see the module's 1b)."""
    async with aiohttp.ClientSession() as http:
        before = folded(await app.summary(http))
        await app.stop()
        events = bench_events()
        producer = bulk_producer(settings)
        await producer.start()
        await publish(producer, events)
        await producer.stop()
        await app.start()
        first = await until_folded(app, http, before, 1)
        started, cpu_started = time.perf_counter(), cpu_seconds(app)
        done = await until_folded(app, http, before, len(events))
        seconds, cpu = time.perf_counter() - started, cpu_seconds(app) - cpu_started
    report.add(
        f"catching up: {len(events):,} events published while the app was stopped, folded per second (bar >= 5,000/s)",
        f"{(done - first) / seconds:,.0f} ({done - first:,} in {seconds:.1f} s after the first batch)",
    )
    report.add(
        "catching up: ops process CPU per event (user + system)",
        f"{cpu / (done - first) * 1e6:.0f} µs ({(done - first) / cpu:,.0f} events per CPU-second)",
    )
    report.add("load average after catching up", str(os.getloadavg()))


async def until_folded(app: OpsApp, http: aiohttp.ClientSession, before: int, wanted: int) -> int:
    """Polled like the page would (every 50 ms): the events folded since `before`, once at least `wanted`."""
    while True:
        done = folded(await app.summary(http)) - before
        if done >= wanted:
            return done
        await asyncio.sleep(0.05)


async def synced(app: OpsApp, http: aiohttp.ClientSession, producer: AIOKafkaProducer) -> None:
    """Until a probe published now is counted: the app (started at the topics' ends) reads from here on."""
    while True:
        base = (await app.summary(http))["counters"].get("settlement_exceptions", 0)
        await publish(producer, [probe_event(f"S{uuid.uuid4().hex[:8]}")])
        for _ in range(50):
            if (await app.summary(http))["counters"].get("settlement_exceptions", 0) > base:
                return
            await asyncio.sleep(0.1)


def cpu_seconds(app: OpsApp) -> float:
    assert app.process is not None
    fields = Path(f"/proc/{app.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def page_latency(settings: Settings, app: OpsApp, report: Report) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        linger_ms=5,
        request_timeout_ms=600_000,
        **kafka_security(),
    )
    await producer.start()
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    stop = asyncio.Event()

    # Built before the clock starts, and sent again in a cycle: building an event costs the client about half a
    # millisecond, so building them on the fly made the client itself the bottleneck at 2,000/s (it fell behind its
    # own schedule, and its probes and page reads queued behind the building).
    at, tag = datetime.now(UTC), uuid.uuid4().hex[:4]
    pool = [
        e for i in range(LOAD_RATE * LOAD_POOL_SECONDS // 5) for e in order_events("BENCHLOAD", f"L{i:07d}{tag}", at)
    ]

    async def background() -> None:
        tick, sent, started = max(1, LOAD_RATE // 10), 0, time.perf_counter()
        while not stop.is_set():
            await publish(producer, [pool[(sent + i) % len(pool)] for i in range(tick)])
            sent += tick
            await asyncio.sleep(max(0.0, started + sent / LOAD_RATE - time.perf_counter()))

    async def watch(http: aiohttp.ClientSession, base: int) -> None:
        """Each probe's latency: until the first server-sent summary counting it (probes are the only exceptions)."""
        timeout = aiohttp.ClientTimeout(total=None)
        async with http.get(f"http://127.0.0.1:{app.port}/api/stream", timeout=timeout) as stream:
            async for line in stream.content:
                if not line.startswith(b"data: "):
                    continue
                seen = time.perf_counter()
                counted = json.loads(line[6:])["counters"].get("settlement_exceptions", 0) - base
                for n in [n for n in sent_at if n < counted and n not in done]:
                    latencies.append(seen - sent_at[n])
                    done.add(n)
                if len(done) >= PROBES:
                    return

    done: set[int] = set()
    async with aiohttp.ClientSession() as http:
        base = (await app.summary(http))["counters"].get("settlement_exceptions", 0)
        watcher = asyncio.create_task(watch(http, base))
        load = asyncio.create_task(background())
        await asyncio.sleep(2)
        for i in range(PROBES):
            probe = probe_event(f"Q{i:05d}{uuid.uuid4().hex[:4]}")
            sent_at[i] = time.perf_counter()
            await publish(producer, [probe])
            await asyncio.sleep(0.05)
        await asyncio.wait_for(watcher, 60)
        stop.set()
        await load
    await producer.stop()
    report.add(
        f"event -> page (SSE) latency, {PROBES} probes under {LOAD_RATE:,} events/s: p50",
        f"{percentile(latencies, 0.5) * 1000:.0f} ms",
    )
    report.add("event -> page latency p99 (bar < 2 s)", f"{percentile(latencies, 0.99) * 1000:.0f} ms")
    report.add("event -> page latency max", f"{max(latencies) * 1000:.0f} ms")


def memory(app: OpsApp, report: Report) -> None:
    """The second life of the app (started again to catch up) holds every table: its peak, relay included (issue 17
    counts a service's relay; the ops app's runs in its own process, so a child here would be a regression)."""
    assert app.process is not None
    report.add(
        "ops process peak RSS (VmHWM) after every part, and its child processes' RSS (bar: under 150 MB together)",
        f"{peak_rss_mb(app.process.pid):.0f} + {rss_and_relay_mb(app.process.pid)[1]:.0f} MB",
    )


async def run(settings: Settings, report: Report) -> None:
    app = OpsApp(settings)
    try:
        await app.start()
        await throughput(settings, app, report)
        await catch_up(settings, app, report)
        await page_latency(settings, app, report)
        memory(app, report)
    finally:
        await app.stop()


def main() -> None:
    report = Report("Ops app: events folded per second, event → page latency", "python deploy/bench/ops.py")
    print(f"benchmark: ops app, {EVENTS:,} events, then {PROBES} probes under {LOAD_RATE}/s")
    asyncio.run(run(Settings.from_env(), report))
    if os.environ.get("BENCH_NO_DOCS"):  # a trial run: print the section instead of appending it
        print(report.markdown())
    else:
        report.append_to_docs()


if __name__ == "__main__":
    main()
