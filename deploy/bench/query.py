"""Queries over Kafka (issue 11): latency under load, Issue → QueryIssueResult, and paging 10,000 tickets.

Every latency is send → the reply seen on the replies topic, matched by request_id, on the real platform: orders
are paid at the processor, issued by the issuance service, and read back from the query service's read model."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from deploy.bench.common import Report, percentile, service_pids
from deploy.bench.cpu_share import process_cpu_seconds
from deploy.bench.issuance import PRICE, checkouts
from deploy.bench.redemption_support import ReplyWatcher
from shared.admin.seed import TEST_MERCHANT
from shared.ecticket.crypto import decrypt_data
from shared.ecticket.envelope import ResponseEnvelope
from shared.ecticket.processor_query import processor_url
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import LOAD_GENERATOR_CLIENT
from shared.sandbox.aio import as_json
from shared.sandbox.checkout import Checkout, checkout_many
from shared.sandbox.merchant import KEYS, MerchantClient
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS

# The processor the orders are paid at, issuance for the orders queried, and the service measured.
SERVICES = ("payment_processor", "payment_confirmation", "issuance", "query")
LOAD_RATE = 500  # queries/s
LOAD_SECONDS = 20
ISSUED_ORDERS = 200  # the orders the load queries, one ticket each
ISSUE_PROBES = 100  # orders timed Issue → QueryIssueResult success
PAGING_ORDERS = 10  # of the maximum 1,000 tickets each: 10,000 tickets paged
BIG_ORDER = 1000


def command(only: str | None) -> str:
    return "make bench BENCH_ARGS='--only query'" if only else "make bench"


class Replies(ReplyWatcher):
    """Every reply on the replies topic from start() on, and one request's reply awaited."""

    async def reply(self, request_id: str, seconds: float) -> tuple[float, dict[str, Any]]:
        """When the reply was seen and its decrypted Data."""
        deadline = time.perf_counter() + seconds
        while request_id not in self.seen:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError(f"request {request_id} not answered after {seconds:.0f} s")
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                continue
        at, payload = self.seen[request_id]
        return at, reply_data(payload["response"])


def reply_data(response: dict[str, Any]) -> dict[str, Any]:
    """The reply's decrypted Data, read without open_reply's 64 KB bound: a 1,000-ticket Issue reply exceeds it."""
    key, iv = KEYS[TEST_MERCHANT]
    data = json.loads(decrypt_data(ResponseEnvelope.model_validate(response).data, key, iv))
    assert isinstance(data, dict)
    return data


def issue(client: MerchantClient, trade_no: str, tickets: int) -> dict[str, Any]:
    data = {
        "MerchantID": TEST_MERCHANT,
        "MerchantTradeNo": trade_no,
        "IssueType": "3",
        "TicketInfo": [{"ItemNo": "PU000500", "TicketAmount": tickets}],
    }
    return client.request("Issue", data, merchant_id=TEST_MERCHANT)


def query(client: MerchantClient, operation: str, **fields: object) -> dict[str, Any]:
    return client.request(operation, {"MerchantID": TEST_MERCHANT, **fields}, merchant_id=TEST_MERCHANT)


async def send(client: MerchantClient, message: dict[str, Any]) -> Any:
    """Publish without waiting for the ack (the caller gathers them): the send time is what is measured from."""
    return await client.producer.send(INGEST_REQUESTS, json.dumps(message).encode(), key=TEST_MERCHANT.encode())


async def issue_orders(client: MerchantClient, replies: Replies, trade_nos: list[str], tickets: int) -> list[str]:
    """Pay and issue each order; the TicketNos the Issue replies gave, after checking every order was issued."""
    paying = [Checkout(TEST_MERCHANT, t, PRICE * tickets, deliver=False) for t in trade_nos]
    paid = {r["MerchantTradeNo"]: as_json(r) for r in await checkout_many(processor_url(), paying)}
    request_ids, pending = [], []
    for trade_no in trade_nos:
        pending.append(await client.producer.send(INGEST_PAYMENTS, paid[trade_no], key=TEST_MERCHANT.encode()))
        message = issue(client, trade_no, tickets)
        request_ids.append(message["request_id"])
        pending.append(await send(client, message))
    await asyncio.gather(*pending)
    await replies.wait(request_ids, 300)
    ticket_nos = []
    for request_id in request_ids:
        _, data = await replies.reply(request_id, 1)
        if data["RtnCode"] != 1 or len(data["TicketList"]) != tickets:
            raise RuntimeError(f"an Issue of the benchmark failed: {data['RtnCode']} {data.get('RtnMsg')}")
        ticket_nos += [t["TicketNo"] for t in data["TicketList"]]
    return ticket_nos


def mixed_queries(client: MerchantClient, orders: list[str], tickets: list[str]) -> Callable[[int], dict[str, Any]]:
    """The load's i-th query: QueryIssueResult and QueryTicketStatus in turn, over the orders and their tickets."""

    def make(i: int) -> dict[str, Any]:
        if i % 2:
            return query(client, "QueryTicketStatus", TicketNo=tickets[i % len(tickets)])
        return query(client, "QueryIssueResult", MerchantTradeNo=orders[i % len(orders)])

    return make


async def send_paced(
    client: MerchantClient,
    message_of: Callable[[int], dict[str, Any]],
    rate: int,
    count: int,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """`count` requests at `rate` a second, the i-th made by `message_of(i)`; when each was sent, by `clock`, per
    request id. Acknowledgements are gathered 200 at a time, so a slow ack never holds up the pace."""
    sent: dict[str, float] = {}
    pending = []
    start = time.perf_counter()
    for i in range(count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        message = message_of(i)
        sent[message["request_id"]] = clock()
        pending.append(await send(client, message))
        if len(pending) >= 200:
            await asyncio.gather(*pending)
            pending.clear()
    await asyncio.gather(*pending)
    return sent


async def query_load(
    client: MerchantClient, replies: Replies, orders: list[str], tickets: list[str], rate: int, report: Report
) -> list[float]:
    """`rate` queries/s for LOAD_SECONDS, alternating QueryIssueResult and QueryTicketStatus; their latencies
    (ms), after checking each one succeeded. Also what each query cost the query service in CPU (user + system of
    the process and its relay, from /proc): unlike latency on a shared machine, load does not distort it."""
    instance = os.environ.get("INFRA_NAME", "bench")
    pids = {name: pid for name, pid in service_pids(instance).items() if name in ("query", "issuance")}
    cpu_before = process_cpu_seconds(instance, pids)
    start = time.perf_counter()
    sent = await send_paced(client, mixed_queries(client, orders, tickets), rate, rate * LOAD_SECONDS)
    sending = time.perf_counter() - start
    await replies.wait(list(sent), 120)
    answering = max(replies.seen[r][0] for r in sent) - start
    cpu_after = process_cpu_seconds(instance, pids)
    report.add(
        "  queries sent / answered per second (client side)",
        f"{len(sent) / sending:,.0f} / {len(sent) / answering:,.0f}",
    )
    for name in sorted(pids):  # issuance reads every request on the topic too, and lets the queries pass
        used = (cpu_after[name] - cpu_before[name]) * 1000 / len(sent)
        report.add(f"  CPU of the {name} service (with its relay) per query", f"{used:.2f} ms")
    failed = sum(1 for r in sent if replies.seen[r][1]["rtn_code"] != 1)
    if failed:
        raise RuntimeError(f"{failed} of the load's queries did not succeed")
    return [(replies.seen[r][0] - at) * 1000 for r, at in sent.items()]


async def issue_to_result(client: MerchantClient, replies: Replies, trade_no: str, paid: bytes) -> float:
    """Pay + Issue, then QueryIssueResult right away and again after each answer until it says issued: ms from the
    Issue sent to that answer seen."""
    await client.producer.send_and_wait(INGEST_PAYMENTS, paid, key=TEST_MERCHANT.encode())
    t0 = time.perf_counter()
    await send(client, issue(client, trade_no, 1))
    for _ in range(50):
        message = query(client, "QueryIssueResult", MerchantTradeNo=trade_no)
        await send(client, message)
        at, data = await replies.reply(message["request_id"], 30)
        if data["RtnCode"] == 1 and data["Status"] == 1:
            return (at - t0) * 1000
        if data["RtnCode"] not in (1, 4001):
            raise RuntimeError(f"QueryIssueResult of {trade_no}: {data['RtnCode']} {data.get('RtnMsg')}")
    raise TimeoutError(f"{trade_no} never queried as issued")


async def page_order(client: MerchantClient, replies: Replies, trade_no: str) -> tuple[int, int]:
    """Every QueryTicketStatus page of the order, one after the other's reply: (pages, tickets read)."""
    page, pages, read = 1, 1, 0
    while page <= pages:
        message = query(client, "QueryTicketStatus", MerchantTradeNo=trade_no, PageNum=page)
        await send(client, message)
        _, data = await replies.reply(message["request_id"], 30)
        if data["RtnCode"] != 1 or data["TotalCount"] != BIG_ORDER:
            raise RuntimeError(f"page {page} of {trade_no}: {data['RtnCode']} {data.get('RtnMsg')}")
        pages, read, page = data["TotalPage"], read + len(data["TicketList"]), page + 1
    return pages, read


async def run(bootstrap: str, report: Report, *, load_only: bool = False, rates: tuple[int, ...] = ()) -> None:
    producer = AIOKafkaProducer(
        client_id=LOAD_GENERATOR_CLIENT, bootstrap_servers=bootstrap, acks="all", linger_ms=1, **kafka_security()
    )
    await producer.start()
    client = MerchantClient(producer)
    replies = Replies(bootstrap)
    await replies.start()
    run_id = uuid.uuid4().hex[:6].upper()
    try:
        orders = [f"QL{run_id}{i:06d}" for i in range(ISSUED_ORDERS)]
        tickets = await issue_orders(client, replies, orders, 1)
        warmup = [query(client, "QueryIssueResult", MerchantTradeNo=t) for t in orders[:50]]
        await asyncio.gather(*[await send(client, m) for m in warmup])
        await replies.wait([m["request_id"] for m in warmup], 60)

        # Half the rate first: what a query costs when the service is not at its limit, to read the bar's run by.
        for rate in rates or (LOAD_RATE // 2, LOAD_RATE):
            latency = await query_load(client, replies, orders, tickets, rate, report)
            report.add(
                f"query latency at {rate} queries/s for {LOAD_SECONDS} s p50 / p99 / max",
                f"{percentile(latency, 0.5):,.0f} / {percentile(latency, 0.99):,.0f} / {max(latency):,.0f} ms",
            )
        if load_only:
            return

        probes = [f"QI{run_id}{i:06d}" for i in range(ISSUE_PROBES)]
        paid = await checkouts(probes)
        to_result = [await issue_to_result(client, replies, t, paid[t]) for t in probes]
        report.add(
            f"Issue → QueryIssueResult issued, {ISSUE_PROBES} orders one at a time, p50 / p99",
            f"{percentile(to_result, 0.5):,.0f} / {percentile(to_result, 0.99):,.0f} ms",
        )

        big = [f"QP{run_id}{i:06d}" for i in range(PAGING_ORDERS)]
        await issue_orders(client, replies, big, BIG_ORDER)
        t0 = time.perf_counter()
        paged = await asyncio.gather(*[page_order(client, replies, t) for t in big])
        elapsed = time.perf_counter() - t0
        pages, read = sum(p for p, _ in paged), sum(n for _, n in paged)
        if read != PAGING_ORDERS * BIG_ORDER:
            raise RuntimeError(f"paging read {read} tickets, not {PAGING_ORDERS * BIG_ORDER}")
        report.add(
            f"QueryTicketStatus paging of {read:,} tickets ({PAGING_ORDERS} orders of {BIG_ORDER:,}, concurrently)",
            f"{elapsed:.2f} s",
        )
        report.add(f"  {pages} pages of 200", f"{pages / elapsed:,.1f} pages/s, {read / elapsed:,.0f} tickets/s")
    finally:
        await replies.stop()
        await producer.stop()


def main() -> None:
    """Only the load (`python -m deploy.bench.query --rates 500`) against the running services of INFRA_NAME, printed
    and not appended to docs/benchmarks.md: the quick loop while working on the query path."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--rates", default=f"{LOAD_RATE // 2},{LOAD_RATE}", help="queries/s, comma-separated")
    args = parser.parse_args()
    rates = tuple(int(r) for r in args.rates.split(","))
    report = Report("Queries: latency under load", "python -m deploy.bench.query")
    asyncio.run(run(os.environ["KAFKA_BOOTSTRAP"], report, load_only=True, rates=rates))


if __name__ == "__main__":
    main()
