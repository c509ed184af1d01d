"""The ops app (issue 14): how many events a second it folds, and how long an event takes to reach the page.

1. Throughput: a new ops app (its own consumer group) starts at the topics' ends; BENCH_OPS_EVENTS events (orders
   of 5 events over 100 merchants: paid, accepted, issued, the ledger's payment entry, a write-off) are published as
   fast as the producer goes, and the rate is their number over the time from the first send until the app has
   folded the last; with the process's CPU time per event. Bar: >= 5,000 events/s.
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
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.bench.common import ROOT, Report, percentile, rss_mb
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.contracts.events import Event, Outgoing, Producer
from shared.contracts.issuance import IssueAccepted, IssuedTicket, TicketsIssued
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.redemption import RedemptionOperation, RedemptionRejected, TicketWrittenOff
from shared.contracts.rtncodes import RtnCode
from shared.contracts.settlement import LedgerEntryPosted, PostingLine
from shared.settings import Settings

SERVICES: tuple[str, ...] = ()  # the app is started by the benchmark itself (a consumer group of its own)
EVENTS = int(os.environ.get("BENCH_OPS_EVENTS", "100000"))
TOPICS = ("ecticket.payments.events.v1", "ecticket.issuance.events.v1", "ecticket.redemption.events.v1",
          "ecticket.settlement.events.v1", "ecticket.settlement.instructions.v1", "ecticket.platform.rejections.v1")  # fmt: skip
MERCHANTS = 100
LOAD_RATE = int(os.environ.get("BENCH_OPS_LOAD", "2000"))  # events/s published beside the latency probes
PROBES = 200
PRODUCER = Producer("bench")


def command(only: str | None) -> str:
    return "make bench BENCH_ARGS='--only ops'" if only else "make bench"


def order_events(merchant: str, trade_no: str, at: datetime) -> list[Outgoing]:
    rule = RefundFeeRule(kind=FeeKind.NONE)
    ticket = IssuedTicket(ticket_no=f"T{trade_no}", write_off_no=f"W{trade_no}", ticket_type=TicketType.PICKUP,
                          item_no="I1", item_name="Tea", face_value=150, start_date=None, expire_date=None,
                          refund_fee_rule=rule)  # fmt: skip
    key = f"{merchant}/{trade_no}"
    common = dict(merchant_id=merchant, platform_id=None, ticket_trade_no=trade_no, merchant_trade_no=trade_no,
                  free_trade_no=None)  # fmt: skip
    events: list[Event] = [
        PaymentConfirmed(merchant_id=merchant, merchant_trade_no=trade_no, trade_no=f"P{trade_no}", amount=300,
                         payment_type="Credit_CreditCard", payment_date=at, simulated=True),
        IssueAccepted(**common, request_id=trade_no, issue_type="1", accepted_at=at),
        TicketsIssued(**common, request_id=trade_no, issue_type="1", issued_at=at, payment=None, escrow_days=90,
                      escrow_expiry_date=date(2027, 3, 1), total_face_value=300, tickets=(ticket, ticket)),
        LedgerEntryPosted(entry_id=uuid.uuid4(), cause_id=trade_no, business_date=at.date(), kind="payment_received",
                          merchant_id=merchant, ticket_trade_no=trade_no, ticket_no=None, memo="",
                          postings=(PostingLine(account_kind="bank_cash", owner="escrow-bank", amount=300),
                                    PostingLine(account_kind="escrow_held", owner=key, amount=-300))),
        TicketWrittenOff(**common, ticket_no=ticket.ticket_no, write_off_no=ticket.write_off_no,
                         ticket_type=TicketType.PICKUP, face_value=150, escrow_expiry_date=date(2027, 3, 1),
                         within_escrow=True, request_id=trade_no, at=at, store_id=None, operator="bench"),
    ]  # fmt: skip
    return [PRODUCER.event(e, uuid.uuid4(), at) for e in events]


def refusal(trade_no: str) -> Outgoing:
    """A probe: a refused write-off (the load never refuses anything, so the refusals counted are the probes)."""
    event = RedemptionRejected(operation=RedemptionOperation.WRITE_OFF, rtn_code=RtnCode.TICKET_NOT_FOUND,
                               reason="bench probe", merchant_id="BENCHPROBE", acting_platform_id=None, ticket_no=trade_no,
                               write_off_no=None, ticket_trade_no=None, request_id=trade_no, at=datetime.now(UTC))  # fmt: skip
    return PRODUCER.event(event, uuid.uuid4(), datetime.now(UTC))


async def publish(producer: AIOKafkaProducer, events: list[Outgoing]) -> None:
    for start in range(0, len(events), 5000):
        futures = [await producer.send(e.topic, e.value, key=e.key.encode()) for e in events[start : start + 5000]]
        await asyncio.gather(*futures)


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
        with (self.workdir / "ops.log").open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "services.ops", cwd=ROOT, env=self.env, stdout=log, stderr=log
            )
        while not (self.workdir / "ready").exists():
            assert self.process.returncode is None, (self.workdir / "ops.log").read_text()[-3000:]
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            await asyncio.wait_for(self.process.wait(), 30)

    async def summary(self, http: aiohttp.ClientSession) -> dict[str, Any]:
        async with http.get(f"http://127.0.0.1:{self.port}/api/summary") as response:
            body: dict[str, Any] = await response.json()
            return body


def folded(summary: dict[str, Any]) -> int:
    return int(summary["counters"].get("events", 0)) + int(summary["counters"].get("poison_events", 0))


async def throughput(settings: Settings, report: Report) -> OpsApp:
    """Start the app at the topics' ends, then publish EVENTS as fast as the producer goes: the rate is EVENTS over
    the time from the first send until the app has folded the last (the producer alone takes a fraction of it)."""
    app = OpsApp(settings)
    await app.start()
    at = datetime.now(UTC)
    orders = [
        order_events(f"BENCH{n % MERCHANTS:03d}", f"B{n:07d}{uuid.uuid4().hex[:4]}", at) for n in range(EVENTS // 5)
    ]
    events = [e for order in orders for e in order]
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20, max_batch_size=262144
    )
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
    report.add("events published (orders of 5 events, 100 merchants)", f"{len(events):,} in {published:.1f} s")
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
    return app


async def synced(app: OpsApp, http: aiohttp.ClientSession, producer: AIOKafkaProducer) -> None:
    """Until a probe published now is counted: the app (started at the topics' ends) reads from here on."""
    while True:
        base = (await app.summary(http))["counters"].get("redemptions_rejected", 0)
        await publish(producer, [refusal(f"S{uuid.uuid4().hex[:8]}")])
        for _ in range(50):
            if (await app.summary(http))["counters"].get("redemptions_rejected", 0) > base:
                return
            await asyncio.sleep(0.1)


def cpu_seconds(app: OpsApp) -> float:
    assert app.process is not None
    fields = Path(f"/proc/{app.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def page_latency(settings: Settings, app: OpsApp, report: Report) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
    await producer.start()
    sent_at: dict[int, float] = {}
    latencies: list[float] = []
    stop = asyncio.Event()

    async def background() -> None:
        at, n = datetime.now(UTC), 0
        while not stop.is_set():
            batch = [e for i in range(LOAD_RATE // 50) for e in order_events("BENCHLOAD", f"L{n + i:08d}", at)][
                : LOAD_RATE // 10
            ]
            n += LOAD_RATE // 50
            await publish(producer, batch)
            await asyncio.sleep(0.1)

    async def watch(http: aiohttp.ClientSession, base: int) -> None:
        """Each probe's latency: until the first server-sent summary counting it (probes are the only refusals)."""
        timeout = aiohttp.ClientTimeout(total=None)
        async with http.get(f"http://127.0.0.1:{app.port}/api/stream", timeout=timeout) as stream:
            async for line in stream.content:
                if not line.startswith(b"data: "):
                    continue
                seen = time.perf_counter()
                counted = json.loads(line[6:])["counters"].get("redemptions_rejected", 0) - base
                for n in [n for n in sent_at if n < counted and n not in done]:
                    latencies.append(seen - sent_at[n])
                    done.add(n)
                if len(done) >= PROBES:
                    return

    done: set[int] = set()
    async with aiohttp.ClientSession() as http:
        base = (await app.summary(http))["counters"].get("redemptions_rejected", 0)
        watcher = asyncio.create_task(watch(http, base))
        load = asyncio.create_task(background())
        await asyncio.sleep(2)
        for i in range(PROBES):
            probe = refusal(f"Q{i:05d}{uuid.uuid4().hex[:4]}")
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


async def run(settings: Settings, report: Report) -> None:
    app = await throughput(settings, report)
    try:
        await page_latency(settings, app, report)
    finally:
        await app.stop()


def main() -> None:
    report = Report("Ops app: events folded per second, event → page latency", "python deploy/bench/ops.py")
    print(f"benchmark: ops app, {EVENTS:,} events, then {PROBES} probes under {LOAD_RATE}/s")
    asyncio.run(run(Settings.from_env(), report))
    report.append_to_docs()


if __name__ == "__main__":
    main()
