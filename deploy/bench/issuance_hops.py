"""Where a paid order's time goes, hop by hop: `python -m deploy.bench.issuance_hops --rate 500` against the running
processor, payment confirmation and issuance of INFRA_NAME (source its .run/<name>/env first;
`ECTICKET_SERVICES="payment_processor payment_confirmation issuance" bash deploy/local/services.sh start` is enough).

Paced paid orders as `make bench`'s issuance part sends them (each paid at the processor beforehand, then its AIO
result and its Issue request published together), each stamped on this host's wall clock six times:
- sent: the client hands the payment result and the Issue request to its producer;
- confirmed: the start of the payment confirmation transaction that confirmed the payment (its PaymentConfirmed
  outbox row's `created_at`), after the processor answered the verifier's query;
- confirmation out: the PaymentConfirmed record's timestamp, set by the relay's producer when it sends it;
- issued: the start of the issuance transaction that issued the tickets (the TicketsIssued outbox row);
- issue out: the TicketsIssued record's timestamp;
- seen: the client's consumer receives TicketsIssued.
Printed, not appended to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from deploy.bench.common import hop_summary, load_producer, percentile
from deploy.bench.issuance import checkouts, send_orders
from deploy.bench.tail import from_the_end
from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings
from shared.topics import ISSUANCE_EVENTS, PAYMENT_EVENTS

SECONDS = 10.0


@dataclass(frozen=True)
class Stamps:
    sent: float
    confirmed: float
    confirmation_out: float
    issued: float
    issue_out: float
    seen: float


HOPS: tuple[tuple[str, Callable[[Stamps], float]], ...] = (
    ("sent → confirmed", lambda s: s.confirmed - s.sent),
    ("confirmed → out", lambda s: s.confirmation_out - s.confirmed),
    ("out → issued", lambda s: s.issued - s.confirmation_out),
    ("issued → out", lambda s: s.issue_out - s.issued),
    ("out → seen", lambda s: s.seen - s.issue_out),
    ("sent → seen (total)", lambda s: s.seen - s.sent),
)


class Watcher:
    """Each PaymentConfirmed's and TicketsIssued's record timestamp, and when TicketsIssued was seen, by trade no."""

    def __init__(self) -> None:
        self.confirmation_out: dict[str, float] = {}
        self.issue_out: dict[str, float] = {}
        self.seen: dict[str, float] = {}

    async def run(self, bootstrap: str) -> None:
        consumer = await from_the_end(bootstrap, [PAYMENT_EVENTS, ISSUANCE_EVENTS])
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=50)
                now = time.time()
                for records in batch.values():
                    for r in records:
                        if b'"PaymentConfirmed"' in r.value:
                            trade_no = json.loads(r.value)["payload"]["merchant_trade_no"]
                            self.confirmation_out.setdefault(trade_no, r.timestamp / 1000)
                        elif b'"TicketsIssued"' in r.value:
                            trade_no = json.loads(r.value)["payload"]["ticket_trade_no"]
                            self.issue_out.setdefault(trade_no, r.timestamp / 1000)
                            self.seen.setdefault(trade_no, now)
        finally:
            await consumer.stop()

    async def wait(self, trade_nos: list[str], seconds: float) -> None:
        deadline = time.time() + seconds
        while any(t not in self.seen for t in trade_nos) and time.time() < deadline:  # noqa: ASYNC110 (polled)
            await asyncio.sleep(0.1)


async def begun_at(pool: asyncpg.Pool, schema: str, event_type: str, field: str, since: float) -> dict[str, float]:
    """When the transaction that wrote each `event_type` row of `schema`'s outbox began, by the payload's `field`."""
    rows = await pool.fetch(
        f"SELECT extract(epoch FROM created_at)::float8 AS at, value FROM {schema}.outbox"
        " WHERE event_type = $1 AND created_at >= to_timestamp($2)",
        event_type,
        since - 1,
    )
    return {json.loads(r["value"])["payload"][field]: r["at"] for r in rows}


async def main(rate: float, seconds: float) -> None:
    settings = Settings.from_env()
    producer = await load_producer(settings.kafka_bootstrap, linger_ms=5)
    watcher = Watcher()
    watching = asyncio.create_task(watcher.run(settings.kafka_bootstrap))
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        client, run = MerchantClient(producer), uuid.uuid4().hex[:6].upper()
        sent: dict[str, float] = {}
        warmup = [f"HW{run}{i:06d}" for i in range(300)]
        await send_orders(client, warmup, None, sent, await checkouts(warmup))
        await watcher.wait(warmup, 120)
        paced = [f"HP{run}{i:06d}" for i in range(int(rate * seconds))]
        paid = await checkouts(paced)
        offset = time.time() - time.perf_counter()  # send_orders stamps perf_counter; the hops compare wall clocks
        started = time.time()
        await send_orders(client, paced, rate, sent, paid)
        await watcher.wait(paced, 600)
        confirmed = await begun_at(pool, "payment_confirmation", "PaymentConfirmed", "merchant_trade_no", started)
        issued = await begun_at(pool, "issuance", "TicketsIssued", "ticket_trade_no", started)
    finally:
        watching.cancel()
        await pool.close()
        await producer.stop()
    w = watcher
    hops = [
        Stamps(sent[t] + offset, confirmed[t], w.confirmation_out[t], issued[t], w.issue_out[t], w.seen[t])
        for t in paced
        if t in confirmed and t in issued and t in w.confirmation_out and t in w.seen
    ]
    print(f"{len(hops):,} of {len(paced):,} paid orders at {rate:,.0f}/s stamped")
    for name, hop in HOPS:
        print(hop_summary(name, [hop(s) for s in hops], 22))
    slowest = sorted(hops, key=lambda s: s.seen - s.sent)[-max(1, len(hops) // 100) :]
    print("the slowest 1 %, mean of each hop:")
    for name, hop in HOPS[:-1]:
        print(f"  {name:<20} {1000 * sum(map(hop, slowest)) / len(slowest):7.1f} ms")
    # Over the run: does a hop's time grow as the run goes on (a queue the rate outruns), or is it flat?
    thirds = [hops[i * len(hops) // 3 : (i + 1) * len(hops) // 3] for i in range(3)]
    print("p50 of the total in each third of the run: " + ", ".join(
        f"{percentile([(s.seen - s.sent) * 1000 for s in part], 0.5):.0f} ms" for part in thirds if part
    ))  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=SECONDS)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.seconds))
