"""Escrow settlement: ledger events applied per second end to end, and the time to settle a day of 100,000 orders.

The day is generated straight onto the input topics as the upstream services would publish it (PaymentConfirmed,
TicketsIssued, then TicketWrittenOff for 90% of the vouchers and TicketRefunded with a fee for 10%), for 50
merchants, with the escrow bank's statement line crediting each payment (as the bank simulator books it: a payment
the bank has not matched is never paid out). Applied = the journal holds the entries (the service's own database,
polled). Then one payout run settles the day: a payout per merchant and a consumer refund per refunded order,
instructed to the simulated bank (a process of its own), whose confirmations are posted back; both the run itself
and the closed loop are timed.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError

from deploy.bench.common import Report, rss_mb
from services.escrow_settlement.domain.payouts import settlement_day
from shared.clock import business_date
from shared.contracts.bank import BankStatementLine, StatementDirection, credit_line_id
from shared.contracts.common import RefundFeeRule, TicketType
from shared.contracts.events import Event, wrap
from shared.contracts.issuance import IssuedTicket, PaymentRef, TicketsIssued
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.redemption import TicketRefunded, TicketWrittenOff
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import LOAD_GENERATOR_CLIENT
from shared.infra.seal import sealed_headers
from shared.infra.topics_admin import partitions_of
from shared.settings import Settings
from shared.topics import BANK_STATEMENTS, ISSUANCE_EVENTS, PAYMENT_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_INSTRUCTIONS

SERVICES = ("escrow_settlement", "escrow_bank")  # the service, and the simulated bank answering its instructions
GROUP = "escrow_settlement"  # the service's consumer group
MERCHANTS = 50
FACE, FEE = 500, 50
CHUNK = 5_000  # messages in flight at a time


def day_orders() -> int:
    """BENCH_SETTLEMENT_ORDERS: orders in the settled day (default the issue's 100,000)."""
    return int(os.environ.get("BENCH_SETTLEMENT_ORDERS", "100000"))


def instances() -> int:
    """BENCH_SETTLEMENT_INSTANCES: instances of escrow-settlement (default 1; they share its partitions)."""
    return int(os.environ.get("BENCH_SETTLEMENT_INSTANCES", "1"))


def command() -> str:
    more = f", BENCH_SETTLEMENT_INSTANCES={instances()}" if instances() != 1 else ""
    return f"make bench BENCH_ARGS='--only settlement'  (BENCH_SETTLEMENT_ORDERS={day_orders()}{more})"


Message = tuple[str, bytes, bytes]  # topic, key, envelope


def order_events(merchant_id: str, trade_no: str, at: datetime, refund: bool) -> list[Message]:
    """The order's three events as their services would publish them, and the bank's credit line of its payment."""
    ticket_no = trade_no[-16:]
    ticket = IssuedTicket(ticket_no=ticket_no, write_off_hash="H" + ticket_no, write_off_sealed="v1.", ticket_type=TicketType.PICKUP,
                          item_no=None, item_name="tea", face_value=FACE, start_date=None, expire_date=None,
                          refund_fee_rule=RefundFeeRule())  # fmt: skip
    escrow_end = (at + timedelta(days=90)).date()
    common = {"merchant_id": merchant_id, "platform_id": None, "ticket_trade_no": trade_no,
              "merchant_trade_no": trade_no, "free_trade_no": None, "ticket_no": ticket_no,
              "write_off_hash": "H" + ticket_no, "ticket_type": TicketType.PICKUP, "face_value": FACE,
              "escrow_expiry_date": escrow_end, "within_escrow": True, "request_id": "R" + trade_no, "at": at}  # fmt: skip
    payment = PaymentRef(trade_no="E" + trade_no[-19:], amount=FACE, payment_date=at)
    events: list[Event] = [
        PaymentConfirmed(merchant_id=merchant_id, merchant_trade_no=trade_no, trade_no=payment.trade_no, amount=FACE,
                         payment_type="Credit_CreditCard", payment_date=at, simulated=True),
        BankStatementLine(statement_date=business_date(at), line_id=credit_line_id(payment.trade_no),
                          direction=StatementDirection.CREDIT, amount=FACE, booked_at=at, merchant_id=merchant_id,
                          merchant_trade_no=trade_no, trade_no=payment.trade_no),
        TicketsIssued(merchant_id=merchant_id, platform_id=None, ticket_trade_no=trade_no, merchant_trade_no=trade_no,
                      free_trade_no=None, request_id="R" + trade_no, issue_type="3", issued_at=at, payment=payment,
                      escrow_days=90, escrow_expiry_date=escrow_end, total_face_value=FACE, tickets=(ticket,)),
        TicketRefunded.model_validate({**common, "fee": FEE, "refund_amount": FACE - FEE, "operator": "desk"})
        if refund
        else TicketWrittenOff.model_validate({**common, "store_id": None, "operator": "pos"}),
    ]  # fmt: skip
    messages = []
    for event in events:
        out = wrap(event, event_id=uuid.uuid4(), occurred_at=at, producer="bench", correlation_id=event.key(),
                   causation_id=None)  # fmt: skip
        messages.append((out.topic, out.key.encode(), out.envelope.to_bytes()))
    return messages


def the_day(merchants: list[str], orders: int, at: datetime) -> list[Message]:
    """Every event of the day, generated before the clock starts (generation is not what is measured)."""
    run = uuid.uuid4().hex[:4].upper()
    return [
        message
        for i in range(orders)
        for message in order_events(merchants[i % len(merchants)], f"BS{run}{i:014d}", at, refund=i % 10 == 0)
    ]


async def publish(producer: AIOKafkaProducer, messages: list[Message]) -> None:
    for start in range(0, len(messages), CHUNK):
        sends = [
            await producer.send(topic, body, key=key, headers=sealed_headers(topic, key, body))  # as the relays seal
            for topic, key, body in messages[start : start + CHUNK]
        ]
        await asyncio.gather(*sends)


async def wait_for(pool: asyncpg.Pool, query: str, args: tuple[object, ...], target: int, seconds: float) -> float:
    """Poll until the count reaches `target`; returns the moment it was seen (perf_counter).

    Every 0.25 s only for the last tenth: each poll counts the rows so far, and at 100,000 orders the journal's count
    every 0.25 s had taken a fifth of PostgreSQL's time in the run it measured (pg_stat_statements: 21 of 115 s)."""
    deadline = time.perf_counter() + seconds
    while (count := int(await pool.fetchval(query, *args) or 0)) < target:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{query} not done after {seconds}s")
        await asyncio.sleep(0.25 if count >= 0.9 * target else 1.0)
    return time.perf_counter()


ENTRIES = "SELECT count(*) FROM escrow_settlement.journal_entries WHERE merchant_id = ANY($1::text[])"
MATCHED = (
    "SELECT count(*) FROM escrow_settlement.recon_items WHERE merchant_id = ANY($1::text[]) AND status = 'matched'"
)
INBOX = "SELECT count(*) FROM escrow_settlement.inbox"


async def idle(pool: asyncpg.Pool) -> None:
    """Wait until the service has consumed whatever earlier benchmarks left on its topics."""
    last = -1
    while (now := int(await pool.fetchval(INBOX))) != last:
        last = now
        await asyncio.sleep(3)


async def skip_backlog(settings: Settings) -> None:
    """Start the (stopped) service's consumer group at the end of its topics: the benchmark measures its own day,
    not the millions of events earlier benchmarks left behind (redemption's expiry flood alone is a million)."""
    topics = [PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_INSTRUCTIONS, BANK_STATEMENTS]
    known = await partitions_of(settings.kafka_bootstrap, topics)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=GROUP, enable_auto_commit=False, **kafka_security()
    )
    await consumer.start()
    try:
        partitions = [TopicPartition(t, n) for t, numbers in known.items() for n in numbers]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        # A just-stopped instance stays a (static) member of the group until its session times out, and the
        # coordinator refuses a standalone commit meanwhile: wait it out rather than fail the benchmark.
        for attempt in range(10):
            try:
                await consumer.commit({tp: offset for tp, offset in ends.items()})
                break
            except CommitFailedError:
                if attempt == 9:
                    raise
                await asyncio.sleep(2)
    finally:
        await consumer.stop()


async def run(settings: Settings, report: Report, pids: dict[str, int]) -> None:
    orders = day_orders()
    merchants = [f"7{uuid.uuid4().int % 10**9:09d}" for _ in range(MERCHANTS)]
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
    producer = AIOKafkaProducer(client_id=LOAD_GENERATOR_CLIENT, bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5,
                                max_batch_size=512 * 1024, **kafka_security())  # fmt: skip
    await producer.start()
    assert pool is not None
    try:
        at = datetime.now(UTC) - timedelta(days=1)  # yesterday: a payout run only settles a day that has ended
        messages = the_day(merchants, orders, at)
        await idle(pool)  # anything published between skip_backlog and now
        t0 = time.perf_counter()
        await publish(producer, messages)
        published = time.perf_counter() - t0
        applied = await wait_for(pool, ENTRIES, (merchants,), 2 * orders, 3600) - t0
        report.add(f"ledger events applied end to end ({3 * orders:,} events of {orders:,} orders, 50 merchants,"
                   f" with {orders:,} bank credit lines beside them)", f"{3 * orders / applied:,.0f} events/s")  # fmt: skip
        matched = await wait_for(pool, MATCHED, (merchants,), orders, 3600) - t0
        report.add("  every payment matched by its bank credit line", f"{matched:.1f} s")
        report.add("  journal entries written per second", f"{2 * orders / applied:,.0f} entries/s")
        report.add("  time to publish the events (client side)", f"{published:.1f} s")
        report.add("RSS of escrow_settlement after the day", f"{rss_mb(pids['escrow_settlement']):,.0f} MB")
        await settle_day(pool, merchants, orders, settlement_day(at), report)
    finally:
        await producer.stop()
        await pool.close()


async def settle_day(pool: asyncpg.Pool, merchants: list[str], orders: int, day: date, report: Report) -> None:
    refunds = (orders + 9) // 10
    t0 = time.perf_counter()
    run_id = await pool.fetchval(
        "INSERT INTO escrow_settlement.payout_runs (business_date, merchant_ids, requested_by, requested_at)"
        " VALUES ($1, $2, 'bench', now()) RETURNING run_id",
        day,
        merchants,
    )
    finished = "SELECT count(*) FROM escrow_settlement.payout_runs WHERE run_id = $1 AND finished_at IS NOT NULL"
    ran = await wait_for(pool, finished, (run_id,), 1, 3600) - t0
    summary = json.loads(await pool.fetchval("SELECT summary FROM escrow_settlement.payout_runs WHERE run_id = $1",
                                             run_id))  # fmt: skip
    assert (summary["payouts"], summary["refunds"]) == (len(merchants), refunds), summary
    confirmed = (
        "SELECT count(*) FROM escrow_settlement.transfers WHERE merchant_id = ANY($1::text[]) AND status = 'confirmed'"
    )
    closed = await wait_for(pool, confirmed, (merchants,), len(merchants) + refunds, 3600) - t0
    report.add(f"payout run for a day of {orders:,} orders ({len(merchants)} payouts, {refunds:,} consumer refunds)",
               f"{ran:.1f} s")  # fmt: skip
    report.add("  until the bank confirmed every transfer and the ledger posted it", f"{closed:.1f} s")
    report.add("  paid out / refunded", f"NT${summary['paid_out']:,} / NT${summary['refunded']:,}")
