"""Where a query's time goes, hop by hop: `python -m deploy.bench.query_hops --rate 500` against the running
payment_processor, payment_confirmation, issuance and query of INFRA_NAME (source its .run/<name>/env first).

Each query of a paced load is stamped three times, all on this host's clock: sent (the client), the reply record's
timestamp (set by the query service's producer as it sends the reply, before its batch commits:
services/query/replies_now.py) and the reply seen by the client. Until the query service sent its replies itself, a
fourth stamp split the first hop at the transaction's start (its reply's outbox row) and the relay's send. Printed,
not appended to docs/benchmarks.md (the table in "Where a query's time went, hop by hop" came from these
figures)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

from deploy.bench.common import load_producer, percentile
from deploy.bench.query import ISSUED_ORDERS, Replies, issue_orders, mixed_queries, send_paced
from shared.sandbox.merchant import MerchantClient

SECONDS = 20


class StampedReplies(Replies):
    """The replies, with when each was seen and its record's timestamp (both wall clock, seconds)."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap)
        self.stamps: dict[str, tuple[float, float]] = {}

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            now, wall = time.perf_counter(), time.time()
            for records in batch.values():
                for r in records:
                    payload = json.loads(r.value)["payload"]
                    self.seen.setdefault(payload["request_id"], (now, payload))
                    self.stamps.setdefault(payload["request_id"], (wall, r.timestamp / 1000))
            if batch:
                self.arrived.set()
                self.arrived = asyncio.Event()


async def run(bootstrap: str, rate: int) -> None:
    producer = await load_producer(bootstrap, linger_ms=1)
    client = MerchantClient(producer)
    replies = StampedReplies(bootstrap)
    await replies.start()
    try:
        orders = [f"QH{uuid.uuid4().hex[:6].upper()}{i:06d}" for i in range(ISSUED_ORDERS)]
        tickets = await issue_orders(client, replies, orders, 1)
        sent = await send_paced(client, mixed_queries(client, orders, tickets), rate, rate * SECONDS, clock=time.time)
        await replies.wait(list(sent), 120)
    finally:
        await replies.stop()
        await producer.stop()
    hops: dict[str, list[float]] = {"send → reply sent": [], "reply sent → client": []}
    total: list[float] = []
    for request_id, at in sent.items():
        seen, stamped = replies.stamps[request_id]
        hops["send → reply sent"].append((stamped - at) * 1000)
        hops["reply sent → client"].append((seen - stamped) * 1000)
        total.append((seen - at) * 1000)
    for name, values in [*hops.items(), ("total", total)]:
        print(f"{name:<22} n={len(values)} p50 {percentile(values, 0.5):6.1f}  p99 {percentile(values, 0.99):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=500, help="queries/s")
    args = parser.parse_args()
    asyncio.run(run(os.environ["KAFKA_BOOTSTRAP"], args.rate))


if __name__ == "__main__":
    main()
