"""What a new merchant door costs the others (issue 16): queries at a steady rate while doors are opened.

Each `merchant-connect` makes two topics; issuance, redemption and query find the new request topic at their next
metadata refresh (ECTICKET_TOPIC_DISCOVERY_MS, 5 s) and rebalance their groups to take it on. While a group
rebalances it reads nothing, so every merchant's requests wait. This measures that wait where a merchant sees it:
send → reply of queries on the shared request topic, in the window after each door against the window before the
first one. The doors are opened on a running platform (`make bench`'s query services), without any merchant record:
a door needs none to be read.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
import uuid
from typing import Any

from deploy.bench.common import Report, load_producer, percentile
from deploy.bench.query import Replies, issue_orders, query, send_paced
from shared.admin.merchant_access import connect
from shared.sandbox.merchant import MerchantClient

SERVICES = ("payment_processor", "payment_confirmation", "issuance", "query")
RATE = 200  # queries/s: well under what the query service answers, so a wait is the rebalance, not a backlog
WINDOW_SECONDS = 15.0  # the refresh (up to 5 s) and the rebalance after a door fit in it
DOORS = 3
ORDERS = 100


def command() -> str:
    return "make bench BENCH_ARGS='--only doors'"


def status_query(client: MerchantClient, trade_no: str) -> dict[str, Any]:
    return query(client, "QueryIssueResult", MerchantTradeNo=trade_no)


async def open_doors(bootstrap: str, count: int, window: float, opened: list[float]) -> None:
    """After a first quiet window, a new door every `window` seconds; when each was made, in `opened`."""
    for _ in range(count):
        await asyncio.sleep(window)
        sender = f"77{secrets.randbelow(10**8):08d}"
        await connect(bootstrap, sender)
        opened.append(time.perf_counter())


def describe(latencies: list[float]) -> str:
    if not latencies:
        return "no queries"
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    return f"{p50:,.0f} / {p99:,.0f} / {max(latencies):,.0f} ms ({len(latencies):,} queries)"


async def run(bootstrap: str, report: Report, *, rate: int = RATE, doors: int = DOORS) -> None:
    producer = await load_producer(bootstrap, linger_ms=1)
    client = MerchantClient(producer)
    replies = Replies(bootstrap)
    await replies.start()
    try:
        run_id = uuid.uuid4().hex[:6].upper()
        orders = [f"DR{run_id}{i:06d}" for i in range(ORDERS)]
        await issue_orders(client, replies, orders, 1)
        opened: list[float] = []
        count = int(rate * WINDOW_SECONDS * (doors + 1))
        sent, _ = await asyncio.gather(
            send_paced(client, lambda i: status_query(client, orders[i % len(orders)]), rate, count),
            open_doors(bootstrap, doors, WINDOW_SECONDS, opened),
        )
        await replies.wait(list(sent), 120)
        latency = {r: (replies.seen[r][0] - at) * 1000 for r, at in sent.items()}
        failed = sum(1 for r in sent if replies.seen[r][1]["rtn_code"] != 1)
        if failed:
            raise RuntimeError(f"{failed} of the queries did not succeed")
        first = min(sent.values())
        before = [ms for r, ms in latency.items() if sent[r] < opened[0]]
        report.add(f"queries at {rate}/s before the first door (p50 / p99 / max)", describe(before))
        for n, at in enumerate(opened, 1):
            after = [ms for r, ms in latency.items() if at <= sent[r] < at + WINDOW_SECONDS]
            report.add(f"  in the {WINDOW_SECONDS:.0f} s after door {n} (made {at - first:.1f} s in)", describe(after))
        report.add("all queries of the run", describe(list(latency.values())))
    finally:
        await replies.stop()
        await producer.stop()


def main() -> None:
    """Against the running services of INFRA_NAME (`make bench`'s query set), printed, not appended to the docs."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--rate", type=int, default=RATE, help="queries/s")
    parser.add_argument("--doors", type=int, default=DOORS)
    args = parser.parse_args()
    report = Report("A new merchant door: what its rebalance costs the others", "python -m deploy.bench.door_rebalance")
    asyncio.run(run(os.environ["KAFKA_BOOTSTRAP"], report, rate=args.rate, doors=args.doors))  # add() prints


if __name__ == "__main__":
    main()
