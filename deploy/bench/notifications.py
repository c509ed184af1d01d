"""Notifications (issue 12): event → notification delivered, and 1,000 merchants with 10 % of endpoints dead.

The events are published straight onto the domain topics as redemption would (`TicketWrittenOff`, after the order's
`TicketsIssued`), stamped with the moment they are sent; the latency is that stamp → the merchant endpoint (an aiohttp
server in this process, answering with the sealed ECTicket acknowledgement) receiving the notification. Dead
endpoints accept the connection and never answer, the worst kind: each holds a delivery slot for the whole timeout.

Run directly against an instance whose notification service runs with production settings:
    INFRA_NAME=<name> ECTICKET_SERVICES=notification bash deploy/local/services.sh start
    .venv/bin/python -m deploy.bench.notifications
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import string
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from aiokafka import AIOKafkaProducer

from deploy.bench.common import Report, load_producer, percentile, service_pids
from services.notification.domain.notices import Kind, notification_id_of
from shared.admin.publish import put_merchants
from shared.contracts.common import RefundFeeRule, TicketType
from shared.contracts.events import Event, wrap
from shared.contracts.issuance import IssuedTicket, TicketsIssued
from shared.contracts.redemption import TicketWrittenOff
from shared.ecticket.envelope import seal_response
from shared.infra.seal import sealed_headers
from shared.merchants.model import MerchantRecord, Mode
from shared.merchants.sealing import MerchantSecrets, seal
from shared.settings import Settings

SERVICES = ("notification",)
BAR_SECONDS = 2.0
STEADY_MERCHANTS, STEADY_RATE, STEADY_SECONDS = 100, 200, 10  # 2,000 notifications at 200/s
FLEET, DEAD_SHARE, WAVES = 1000, 0.10, 3  # three waves of one notification to each of 1,000 merchants, 2 s apart;
# first to a fleet whose endpoints all answer (the control), then to one with 10 % dead


def command(only: str | None) -> str:
    return "make bench BENCH_ARGS='--only notifications'" if only else "make bench"


class Endpoint:
    """Every merchant's notify URL: /<merchant>; a dead merchant's never answers."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, str]] = {}
        self.dead: set[str] = set()
        self.received: dict[str, float] = {}  # notification id -> first arrival (time.time())
        self.base = ""

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/{merchant}", self.handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=1024).start()
        self.base = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return runner

    async def handle(self, request: web.Request) -> web.StreamResponse:
        merchant = request.match_info["merchant"]
        arrived = time.time()
        if merchant in self.dead:
            await asyncio.sleep(3600)
        self.received.setdefault(request.headers["X-Notification-Id"], arrived)
        await request.read()
        key, iv = self.keys[merchant]
        ack = seal_response({"RtnCode": 1, "RtnMsg": "OK"}, merchant, None, key, iv, int(arrived))
        return web.json_response(ack.to_wire())


def _token() -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))


async def merchants(settings: Settings, endpoint: Endpoint, first: int, count: int, dead: int) -> list[str]:
    """`count` sandbox merchants notified at the endpoint, the first `dead` of them at a dead URL. Their ids are
    the same in every run (7000000000 + `first` ...), so a rerun on the same instance updates them instead of adding
    2,100 merchants to the merchant topic, which every service reads whole when it starts."""
    ids = [f"7{n:09d}" for n in range(first, first + count)]
    records = []
    for n, merchant_id in enumerate(ids):
        key, iv = _token(), _token()
        endpoint.keys[merchant_id] = (key, iv)
        if n < dead:
            endpoint.dead.add(merchant_id)
        keys = MerchantSecrets.model_validate(
            {"ticket_hash_key": key, "ticket_hash_iv": iv, "payment_hash_key": key, "payment_hash_iv": iv}
        )
        records.append(MerchantRecord(
            merchant_id=merchant_id, name=f"notify bench {merchant_id}", mode=Mode.SANDBOX,
            use_status_notify_url=f"{endpoint.base}/{merchant_id}", secrets=seal(keys, merchant_id, settings.config_key_hex),
            updated_at=datetime.now(UTC),
        ))  # fmt: skip
    await put_merchants(settings.kafka_bootstrap, records)
    await asyncio.sleep(2)  # the service's merchant view applies them (milliseconds; generous)
    return ids


class Orders:
    """One gift order per merchant with tickets enough for every write-off the benchmark makes."""

    def __init__(self, producer: AIOKafkaProducer, tickets_each: int) -> None:
        self.producer, self.tickets_each = producer, tickets_each
        self.left: dict[str, list[tuple[str, str]]] = {}  # merchant -> (order, ticket) not written off yet

    async def issue(self, merchant_ids: list[str]) -> None:
        now = datetime.now(UTC)
        for merchant_id in merchant_ids:
            order = "NB" + uuid.uuid4().hex[:18].upper()
            tickets = tuple(_gift_ticket() for _ in range(self.tickets_each))
            issued = TicketsIssued(merchant_id=merchant_id, platform_id=None, ticket_trade_no=order,
                                   merchant_trade_no=None, free_trade_no=order, request_id=order, issue_type="3",
                                   issued_at=now, payment=None, escrow_days=None, escrow_expiry_date=None,
                                   total_face_value=0, tickets=tickets)  # fmt: skip
            await self.send(issued, "issuance")
            self.left[merchant_id] = [(order, t.ticket_no) for t in tickets]
        await self.producer.flush()

    async def write_off(self, merchant_id: str) -> tuple[uuid.UUID, float]:
        """The next ticket of the merchant written off now: the id of the notification it causes, and the event's
        time stamp."""
        order, ticket_no = self.left[merchant_id].pop()
        now = datetime.now(UTC)
        event = TicketWrittenOff(merchant_id=merchant_id, platform_id=None, ticket_trade_no=order,
                                 merchant_trade_no=None, free_trade_no=order, ticket_no=ticket_no,
                                 write_off_hash="H" + ticket_no, ticket_type=TicketType.GIFT, face_value=0,
                                 escrow_expiry_date=None, within_escrow=False, request_id=None, at=now,
                                 store_id=None, operator="bench")  # fmt: skip
        event_id = await self.send(event, "redemption", now)
        return notification_id_of(event_id, Kind.USE_STATUS), now.timestamp()

    async def send(self, event: Event, producer: str, at: datetime | None = None) -> uuid.UUID:
        out = wrap(event, event_id=uuid.uuid4(), occurred_at=at or datetime.now(UTC), producer=producer,
                   correlation_id=event.key(), causation_id=None)  # fmt: skip
        value, key = out.envelope.to_bytes(), out.key.encode()
        await self.producer.send(out.topic, value, key=key, headers=sealed_headers(out.topic, key, value))
        return out.envelope.event_id


def _gift_ticket() -> IssuedTicket:
    return IssuedTicket(
        ticket_no=uuid.uuid4().hex[:16].upper(), write_off_hash=uuid.uuid4().hex, write_off_sealed="v1.", ticket_type=TicketType.GIFT,
        item_no=None, item_name="bench", face_value=0, start_date=None, expire_date=None, refund_fee_rule=RefundFeeRule(),
    )  # fmt: skip


async def latencies(endpoint: Endpoint, sent: dict[uuid.UUID, float], seconds: float) -> list[float]:
    """Seconds from each event's stamp to its notification's arrival, once all arrived or `seconds` passed."""
    for _ in range(int(seconds * 10)):
        if all(str(n) in endpoint.received for n in sent):
            break
        await asyncio.sleep(0.1)
    return [endpoint.received[str(n)] - at for n, at in sent.items() if str(n) in endpoint.received]


def summarise(report: Report, name: str, values: list[float], expected: int) -> None:
    report.add(f"{name}: delivered", f"{len(values):,} of {expected:,}")
    p50, p99, top = percentile(values, 0.5), percentile(values, 0.99), max(values, default=float("nan"))
    verdict = "meets" if len(values) == expected and p99 < BAR_SECONDS else "MISSES"
    report.add(f"{name}: latency p50 / p99 / max", f"{p50 * 1000:.0f} / {p99 * 1000:.0f} / {top * 1000:.0f} ms "
               f"({verdict} the bar p99 < 2 s)")  # fmt: skip


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time the process has used (0 when it is not known)."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(settings: Settings, report: Report) -> None:
    pid = service_pids(os.environ.get("INFRA_NAME", "bench")).get("notification")
    cpu_before = cpu_seconds(pid)
    endpoint = Endpoint()
    runner = await endpoint.start()
    producer = await load_producer(settings.kafka_bootstrap, linger_ms=5)
    try:
        steady = await merchants(settings, endpoint, 0, STEADY_MERCHANTS, 0)
        orders = Orders(producer, tickets_each=STEADY_RATE * STEADY_SECONDS // STEADY_MERCHANTS)
        await orders.issue(steady)
        await asyncio.sleep(1)
        sent: dict[uuid.UUID, float] = {}
        started = time.perf_counter()
        for n in range(STEADY_RATE * STEADY_SECONDS):
            await asyncio.sleep(max(0.0, started + n / STEADY_RATE - time.perf_counter()))
            notification, at = await orders.write_off(steady[n % len(steady)])
            sent[notification] = at
        summarise(report, f"{STEADY_MERCHANTS} merchants, {STEADY_RATE}/s for {STEADY_SECONDS} s", await latencies(
            endpoint, sent, 30), len(sent))  # fmt: skip

        # The same waves to a fleet where every endpoint answers: the difference is what dead endpoints cost.
        for n, dead_share in enumerate((0.0, DEAD_SHARE), start=1):
            await fleet(settings, endpoint, producer, report, n * FLEET, int(FLEET * dead_share))
        if pid is not None:
            used, count = cpu_seconds(pid) - cpu_before, len(endpoint.received)
            report.add("notification service CPU per notification delivered",
                       f"{used / count * 1000:.2f} ms ({used:.1f} CPU-s for {count:,}; dead endpoints' attempts included)")  # fmt: skip
    finally:
        await producer.stop()
        await runner.cleanup()


async def fleet(
    settings: Settings, endpoint: Endpoint, producer: AIOKafkaProducer, report: Report, first: int, dead: int
) -> None:
    """WAVES waves of one notification to each of FLEET merchants, `dead` of whose endpoints never answer."""
    ids = await merchants(settings, endpoint, first, FLEET, dead)
    orders = Orders(producer, tickets_each=WAVES)
    await orders.issue(ids)
    await asyncio.sleep(1)
    healthy: dict[uuid.UUID, float] = {}
    for _ in range(WAVES):
        for merchant_id in ids:
            notification, at = await orders.write_off(merchant_id)
            if merchant_id not in endpoint.dead:
                healthy[notification] = at
        await producer.flush()
        await asyncio.sleep(2)
    name = f"{FLEET:,} merchants, {dead} endpoints dead, {WAVES} waves: the healthy"
    summarise(report, name, await latencies(endpoint, healthy, 30), len(healthy))


def main() -> None:
    report = Report("Notifications: event → delivered, 1,000 merchants with 10 % dead", sys.argv[0])
    asyncio.run(run(Settings.from_env(), report))
    print(report.markdown())
    print(json.dumps(report.rows))


if __name__ == "__main__":
    main()
