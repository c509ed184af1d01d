"""The HTTP gateway (issue 12): WriteOff over HTTP, request → response, at 500 requests/s and at the most it sustains.

Every request is a sealed ECTicket WriteOff POSTed to /api/Ticket/WriteOff; its latency is until the HTTP response
(the redemption service's final outcome, relayed) is read. The tickets are seeded as TicketsIssued, as the
redemption benchmark seeds them. The client runs on the same two cores as the platform (its share is in "this
benchmark"). The gateway's per-merchant rate limit is raised for the bench merchant's instance
(GATEWAY_RATE_PER_SECOND): the bench measures the gateway, not the limit."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass

import aiohttp
import asyncpg

from deploy.bench.common import Report, percentile
from deploy.bench.cpu_share import TICKS, CpuShare, _ticks
from deploy.bench.redemption_support import (
    bench_merchant,
    issued_orders,
    publish_issued,
    wait_stored,
    write_off_no,
)
from shared.contracts.common import TicketType
from shared.ecticket.crypto import decrypt_data
from shared.ecticket.envelope import seal_request
from shared.sandbox.merchant import KEYS
from shared.settings import Settings

SERVICES = ("redemption", "gateway")
# What the bench's gateway is started with (deploy/bench/run.py): no per-merchant limit in the way.
ENVIRONMENT = {"GATEWAY_RATE_PER_SECOND": "1000000", "GATEWAY_RATE_BURST": "1000000"}
BAR_RATE, BAR_P99_MS = 500, 150  # issue 12: HTTP WriteOff p99 under 150 ms at 500 requests/s
PACED_SECONDS = 10
WARMUP_SECONDS = 3
SATURATION_REQUESTS = 6000
SATURATION_CONCURRENCY = 128  # clients waiting on their answer at once (keep-alive connections)
STEP_RATES = (700, 900, 1100)  # paced runs above the bar: the highest one held with p99 < BAR_P99_MS is reported
ORDER_SIZE = 500


def command(only: str | None) -> str:
    args = " BENCH_ARGS='--only gateway'" if only else ""
    return f"make bench{args}"


@dataclass
class HttpPos:
    """Point-of-sale terminals writing tickets off over HTTP."""

    url: str
    settings: Settings
    pool: asyncpg.Pool
    merchant_id: str
    session: aiohttp.ClientSession

    async def tickets(self, count: int) -> list[str]:
        """`count` new pickup vouchers stored by redemption; their WriteOffNos."""
        run = uuid.uuid4().hex[:6].upper()
        orders = list(issued_orders(self.merchant_id, run, count, ORDER_SIZE, (TicketType.PICKUP,)))
        known = await self.pool.fetchval(
            "SELECT count(*) FROM redemption.tickets WHERE merchant_id = $1", self.merchant_id
        )
        await publish_issued(self.settings.kafka_bootstrap, iter(orders))
        await wait_stored(self.pool, self.merchant_id, known + count, 300)
        await self.pool.execute("ANALYZE redemption.tickets")  # as the redemption bench does, for the same reason
        return [write_off_no(line) for _, lines in orders for line in lines]

    def bodies(self, write_off_nos: list[str]) -> list[bytes]:
        """Sealed ahead of time (10-minute window), so the sender measures the platform, not the sealing."""
        key, iv = KEYS[self.merchant_id]
        now = int(time.time())
        return [
            json.dumps(
                seal_request(
                    {"MerchantID": self.merchant_id, "WriteOffNo": number, "Action": "1", "Operator": "bench"},
                    self.merchant_id,
                    None,
                    key,
                    iv,
                    now,
                ).to_wire()
            ).encode()
            for number in write_off_nos
        ]

    async def post(self, body: bytes) -> tuple[float, int, bytes]:
        """Latency (ms), HTTP status and body of one WriteOff's answer: opened later (`outcome`), so the client
        does not decrypt replies on the two cores while the platform is still answering the rest."""
        t0 = time.perf_counter()
        for attempt in range(3):
            try:
                async with self.session.post(
                    self.url + "/api/Ticket/WriteOff", data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    text = await response.read()
                    status = response.status
                break
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                # A pooled connection the server closed as the request went out: the identical request sent again
                # is a replay, answered with the same outcome (the time of both counts).
                if attempt == 2:
                    raise
        return (time.perf_counter() - t0) * 1000, status, text

    def outcome(self, answer: tuple[float, int, bytes]) -> tuple[float, int]:
        """Latency (ms) and RtnCode of one WriteOff (-status when not HTTP 200)."""
        took, status, text = answer
        if status != 200:
            return took, -status
        key, iv = KEYS[self.merchant_id]
        return took, int(json.loads(decrypt_data(json.loads(text)["Data"], key, iv))["RtnCode"])

    async def paced(self, bodies: list[bytes], rate: float) -> list[tuple[float, int]]:
        start = time.perf_counter()
        tasks = []
        for i, body in enumerate(bodies):
            if (delay := start + i / rate - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.post(body)))
        return [self.outcome(answer) for answer in await asyncio.gather(*tasks)]

    async def saturated(self, bodies: list[bytes], concurrency: int) -> tuple[float, list[tuple[float, int]]]:
        """Closed loop: `concurrency` clients, each sending its next request when answered; requests/s overall."""
        queue = iter(bodies)
        answers: list[tuple[float, int, bytes]] = []

        async def client() -> None:
            for body in queue:
                answers.append(await self.post(body))

        t0 = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return len(bodies) / (time.perf_counter() - t0), [self.outcome(answer) for answer in answers]


def _summary(results: list[tuple[float, int]]) -> str:
    latency = [ms for ms, _ in results]
    return f"{percentile(latency, 0.5):,.0f} / {percentile(latency, 0.99):,.0f} ms"


def _failed(results: list[tuple[float, int]]) -> int:
    return sum(1 for _, code in results if code != 1)


async def run(settings: Settings, url: str, report: Report, instance: str, pids: dict[str, int]) -> None:
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    connector = aiohttp.TCPConnector(limit=SATURATION_CONCURRENCY * 2)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120))
    try:
        pos = HttpPos(url, settings, pool, await bench_merchant(settings, "http write-offs"), session)
        await asyncio.sleep(1.0)  # the services' merchant views pick the new merchant up
        cpu = CpuShare(instance, pids)
        failed = 0
        # Warmed up at the measured rate, not below it: the first seconds at 500/s open the pools' further
        # connections and prepare their statements, a one-off that made the 500/s run's tail worse than the
        # 700/s run's after it (18:18 UTC: p99 630 against 433 ms). What is reported is the steady state.
        warmup = await pos.paced(pos.bodies(await pos.tickets(WARMUP_SECONDS * BAR_RATE)), BAR_RATE)
        failed += _failed(warmup)

        bodies = pos.bodies(await pos.tickets(BAR_RATE * PACED_SECONDS))
        cpu.start()
        gateway_ticks = _ticks(pids["gateway"])
        t0 = time.perf_counter()
        results = await pos.paced(bodies, BAR_RATE)
        share = cpu.describe(time.perf_counter() - t0)
        per_request = (_ticks(pids["gateway"]) - gateway_ticks) / TICKS / len(bodies) * 1000
        p99 = percentile([ms for ms, _ in results], 0.99)
        verdict = " — meets the bar" if p99 < BAR_P99_MS else " — MISSES the bar"
        report.add(
            f"HTTP WriteOff at {BAR_RATE} requests/s for {PACED_SECONDS} s (bar: p99 < {BAR_P99_MS} ms) p50 / p99",
            _summary(results) + verdict,
        )
        report.add("  CPU meanwhile, in cores (the HTTP client included)", share)
        report.add("  the gateway process's CPU per request", f"{per_request:.2f} ms")
        failed += _failed(results)

        held = 0
        for rate in STEP_RATES:
            bodies = pos.bodies(await pos.tickets(rate * PACED_SECONDS))
            cpu.start()
            t0 = time.perf_counter()
            results = await pos.paced(bodies, rate)
            elapsed = time.perf_counter() - t0
            report.add(f"HTTP WriteOff at {rate} requests/s for {PACED_SECONDS} s p50 / p99", _summary(results))
            report.add("  CPU meanwhile, in cores", cpu.describe(elapsed))
            failed += _failed(results)
            if percentile([ms for ms, _ in results], 0.99) >= BAR_P99_MS:
                break
            held = rate
        report.add(f"highest paced rate held with p99 < {BAR_P99_MS} ms (of {', '.join(map(str, STEP_RATES))})",
                   f"{held:,} requests/s" if held else f"none above {BAR_RATE}")  # fmt: skip

        bodies = pos.bodies(await pos.tickets(SATURATION_REQUESTS))
        cpu.start()
        t0 = time.perf_counter()
        sustained, results = await pos.saturated(bodies, SATURATION_CONCURRENCY)
        share = cpu.describe(time.perf_counter() - t0)
        report.add(
            f"maximum sustained: {SATURATION_REQUESTS:,} WriteOffs, {SATURATION_CONCURRENCY} clients in a closed loop",
            f"{sustained:,.0f} requests/s, p50 / p99 {_summary(results)}",
        )
        report.add("  CPU meanwhile, in cores", share)
        failed += _failed(results)
        report.add("  WriteOffs not answered RtnCode 1 (expected 0)", str(failed))
    finally:
        await session.close()
        await pool.close()
