"""Postgres restarted (fast and immediate) and the services' sessions terminated while paid orders and write-offs
stream in: every order is issued once, every payment and every release reaches the ledger, nothing is
dead-lettered, and every service is still running.

The test server runs with PG_FAST=1 (fsync=off, full_page_writes=off, synchronous_commit=off). fsync and full-page
writes only matter when the operating system crashes: a Postgres restart, even an immediate one (every backend
killed, WAL replayed at start), finds everything already handed to the kernel. synchronous_commit=off would lose
the last commits on an immediate restart, and with them messages whose offsets were already committed: the
services' pools therefore insist on synchronous_commit=on for their own sessions (shared/infra/database.py), which
the stream test relies on and the start-up test checks.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import asyncpg
import pytest

from deploy.simulators.bank.names import SCHEMA as BANK_SCHEMA
from deploy.simulators.bank.port import Instruction
from deploy.simulators.bank.simulated import SimulatedEscrowBank, set_rule
from services.escrow_settlement.config import SettlementConfig
from services.escrow_settlement.domain.facts import Fact
from services.escrow_settlement.inbound import fact_from
from shared.contracts.common import UseStatus
from shared.contracts.settlement import TransferKind
from shared.ecticket.processor_query import processor_url
from shared.infra.database import create_pool, migrate
from shared.sandbox.aio import as_json
from shared.sandbox.checkout import Checkout, checkout_many
from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS
from tests.support.codes import with_codes
from tests.support.merchants import PICKUP, PICKUP_FACE, fresh_merchant
from tests.support.orders import pay
from tests.support.ports import free_port
from tests.support.pos import Pos
from tests.support.postgres import (
    RestartMode,
    local_instance,
    restart_postgres,
    terminate_service_sessions,
    until_reachable,
)
from tests.support.processes import Platform
from tests.support.settlement import Entry, facts_ledger, stored_ledger
from tests.support.tap import Seen, Tap

ORDERS = 240
CHUNK = 20  # orders sent together, one chunk every CHUNK_PAUSE seconds: about 12 s of stream
CHUNK_PAUSE = 1.0
WRITE_OFFS = ORDERS // 2  # every second order's voucher is written off as soon as it is issued
Fault = RestartMode | Literal["terminate"]
# After which chunk each fault strikes: while that chunk and the ones before it are being handled, more arriving.
FAULTS: dict[int, Fault] = {1: "fast", 3: "terminate", 5: "immediate", 7: "terminate", 9: "fast", 11: "immediate"}
SCHEMAS = ("payment_confirmation", "issuance", "redemption", "escrow_settlement", "escrow_bank", "payment_processor")
LEDGER_EVENTS = ("PaymentConfirmed", "TicketsIssued", "TicketWrittenOff")
SUCCESS = 1
# Business deadlines (a payment's wait for its order, an order's for its payment, 6 and 10 s in the session) are not
# what is tested here: a message waiting behind a crash must not be mistaken for one that never came.
LONG_WAITS = {"ISSUANCE_PAYMENT_WAIT_SECONDS": "600", "ISSUANCE_UNCLAIMED_PAYMENT_SECONDS": "600"}


class Orders:
    """The stream: paid orders of one NT$500 pickup voucher (half with the payment first, half with the request
    first), and the write-offs of every second voucher as soon as it is issued; each request remembered by id."""

    def __init__(self, merchant: MerchantClient, tap: Tap, merchant_id: str) -> None:
        self.merchant, self.tap, self.merchant_id = merchant, tap, merchant_id
        self.prefix = "DR" + uuid.uuid4().hex[:6].upper()
        self.issue_requests: set[str] = set()
        self.write_offs: dict[str, str] = {}  # order -> request id
        self.payments: list[bytes] = []

    def trade_no(self, i: int) -> str:
        return f"{self.prefix}{i:05d}"

    async def pay_all(self) -> None:
        """Every order paid at the processor before the faults (the genuine results kept, sent with the stream)."""
        orders = [Checkout(self.merchant_id, self.trade_no(i), PICKUP_FACE, deliver=False) for i in range(ORDERS)]
        self.payments = [as_json(fields) for fields in await checkout_many(processor_url(), orders)]

    async def send_chunk(self, first: int) -> None:
        producer, key = self.merchant.producer, self.merchant_id.encode()
        deliveries = []
        for i in range(first, first + CHUNK):
            trade_no = self.trade_no(i)
            payment = self.payments[i]
            data = {
                "MerchantID": self.merchant_id,
                "MerchantTradeNo": trade_no,
                "IssueType": "3",
                "TicketInfo": [{"ItemNo": PICKUP, "TicketAmount": 1}],
            }
            message = self.merchant.request("Issue", data, merchant_id=self.merchant_id)
            self.issue_requests.add(str(message["request_id"]))
            pair = [(INGEST_PAYMENTS, payment), (INGEST_REQUESTS, json.dumps(message).encode())]
            for topic, body in pair if i % 2 else reversed(pair):
                deliveries.append(await producer.send(topic, body, key=key))
        await asyncio.gather(*deliveries)

    def issued(self) -> dict[str, Seen]:
        return {
            s.payload["ticket_trade_no"]: s
            for s in self.tap.matching(
                lambda s: s.type == "TicketsIssued" and s.payload["ticket_trade_no"].startswith(self.prefix)
            )
        }

    async def write_off_as_issued(self) -> None:
        """Write off every even-numbered order's voucher once its TicketsIssued is seen, until all are sent."""
        pos, key = Pos(self.merchant, self.tap, self.merchant_id), self.merchant_id.encode()
        while len(self.write_offs) < WRITE_OFFS:
            deliveries = []
            for order, issued in self.issued().items():
                if int(order[-5:]) % 2 == 0 and order not in self.write_offs:
                    message = pos.write_off_message(with_codes(issued.payload["tickets"])[0]["write_off_no"])
                    self.write_offs[order] = str(message["request_id"])
                    body = json.dumps(message).encode()
                    deliveries.append(await self.merchant.producer.send(INGEST_REQUESTS, body, key=key))
            await asyncio.gather(*deliveries)
            await asyncio.sleep(0.1)


async def strike(fault: Fault, database_url: str) -> str:
    """One fault; what it did (for the failure messages)."""
    if fault == "terminate":
        return f"terminated {await terminate_service_sessions(database_url)} sessions"
    return f"restart -m {fault}: back in {await restart_postgres(database_url, fault):.2f}s"


async def until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 60) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await check():
        assert loop.time() < deadline, f"{what}: not within {seconds}s"
        await asyncio.sleep(0.2)


@pytest.mark.slow
async def test_paid_orders_and_write_offs_through_postgres_restarts_and_killed_sessions_lose_nothing(
    topics: Settings, platform: Platform, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    url = topics.database_url
    if local_instance(url) is None:
        pytest.skip("needs the PostgreSQL of deploy/local/infra.sh (make test), to restart it")
    started_at = datetime.now(UTC)
    # A paid order fails when its payment has not arrived 6 s (the session's setting) after its request. That is a
    # business deadline (15 minutes in production), not what is tested here: a consumer backing off through six
    # faults must not be mistaken for a payment that never came.
    platform["issuance"].kill9()
    await platform["issuance"].start(extra_env=LONG_WAITS)
    merchant_id = await fresh_merchant(topics)
    stream = Orders(merchant, tap, merchant_id)
    await stream.pay_all()
    writer = asyncio.create_task(stream.write_off_as_issued())
    try:
        begun = time.monotonic()
        faults: list[asyncio.Task[str]] = []
        for chunk in range(ORDERS // CHUNK):
            await stream.send_chunk(chunk * CHUNK)
            if chunk in FAULTS:  # while this chunk and the ones before it are being handled
                faults.append(asyncio.create_task(strike(FAULTS[chunk], url)))
            await asyncio.sleep(CHUNK_PAUSE)
        struck = [await f for f in faults]
        await until_reachable(url)
        await asyncio.wait_for(writer, 120)
        replies = await _replies(tap, stream.issue_requests | set(stream.write_offs.values()))
        await _read_by_tap(tap, stream)
        elapsed = time.monotonic() - begun

        # Every order issued once: one TicketsIssued per order (a republished one keeps its id), one ticket row.
        issued_ids: dict[str, set[str]] = {}
        for s in tap.matching(lambda s: s.type == "TicketsIssued" and s.payload["merchant_id"] == merchant_id):
            issued_ids.setdefault(s.payload["ticket_trade_no"], set()).add(str(s.envelope.event_id))
        assert sorted(issued_ids) == [stream.trade_no(i) for i in range(ORDERS)], struck
        assert all(len(ids) == 1 for ids in issued_ids.values()), "an order was issued by two different events"
        assert not tap.matching(lambda s: s.type == "IssueFailed" and s.payload["merchant_id"] == merchant_id)
        tickets = await db.fetchrow(
            "SELECT count(*) AS tickets, count(DISTINCT ticket_trade_no) AS orders FROM issuance.tickets"
            " WHERE merchant_id = $1",
            merchant_id,
        )
        assert (tickets["tickets"], tickets["orders"]) == (ORDERS, ORDERS)
        # Every request answered once, and successfully: a 9999 would be an order or a write-off lost to a fault.
        assert {request_id: codes for request_id, codes in replies.items() if codes != [SUCCESS]} == {}, struck
        # Every payment recorded, every write-off applied.
        payments = "SELECT count(*) FROM payment_confirmation.payments WHERE merchant_id = $1"
        assert await db.fetchval(payments, merchant_id) == ORDERS
        used = "SELECT count(*) FROM redemption.tickets WHERE merchant_id = $1 AND status = $2"
        assert await db.fetchval(used, merchant_id, int(UseStatus.WRITTEN_OFF)) == len(stream.write_offs) == WRITE_OFFS

        # The ledger is what the pure core makes of the facts published: every payment held, every release made.
        expected, balances = facts_ledger(_facts(tap, merchant_id))
        await until(lambda: _ledger_holds(db, merchant_id, expected), "the ledger of every published fact")
        entries, stored_balances = await stored_ledger(db, [merchant_id])
        assert entries == expected
        assert stored_balances == balances
        kinds = [kind for kind, *_ in entries.values()]
        assert (kinds.count("payment"), kinds.count("write_off")) == (ORDERS, WRITE_OFFS)
        assert stored_balances[f"merchant_payable:{merchant_id}"] == WRITE_OFFS * PICKUP_FACE
        held = [v for a, v in stored_balances.items() if a.startswith("escrow_held:")]
        assert held == [PICKUP_FACE] * (ORDERS - WRITE_OFFS)

        # Nothing dead-lettered anywhere, nothing left unpublished, no service died.
        for schema in SCHEMAS:
            dead = await db.fetchval(f"SELECT count(*) FROM {schema}.dead_letters WHERE received_at >= $1", started_at)
            assert dead == 0, f"{schema}: {dead} dead letters"
            await until(_published(db, schema), f"{schema}: every outbox row published")
        exited = {name: svc.process.poll() for name, svc in platform.services.items() if svc.process is not None}
        assert set(exited.values()) == {None}, exited
        print(f"{ORDERS} orders and {WRITE_OFFS} write-offs in {elapsed:.1f}s through: {'; '.join(struck)}")
    finally:
        writer.cancel()
        platform["issuance"].kill9()  # back to the session's settings
        await platform["issuance"].start()


async def _replies(tap: Tap, request_ids: set[str], seconds: float = 90) -> dict[str, list[int]]:
    """The RtnCodes of the replies to each request (one each, by event id), once every request has one."""
    ours = lambda s: s.type == "RequestReplied" and s.payload["request_id"] in request_ids  # noqa: E731
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (answered := len({s.payload["request_id"] for s in tap.matching(ours)})) < len(request_ids):
        assert loop.time() < deadline, f"{len(request_ids) - answered} requests without a reply"
        await asyncio.sleep(0.2)
    codes: dict[str, list[int]] = {}
    for s in {str(s.envelope.event_id): s for s in await tap.quiet_matching(ours, settle=2.0)}.values():
        codes.setdefault(s.payload["request_id"], []).append(int(s.payload["rtn_code"]))
    return codes


async def _read_by_tap(tap: Tap, stream: Orders, seconds: float = 90) -> None:
    """Every order's payment and issue and every write-off, as published: replies say nothing of them (an Issue is
    answered as accepted before its payment is verified), and they travel on other topics than the replies, which
    the tap reads independently."""

    def ours(kind: str) -> Callable[[Seen], bool]:
        return lambda s: s.type == kind and s.payload["merchant_id"] == stream.merchant_id

    orders: set[Hashable] = {stream.trade_no(i) for i in range(ORDERS)}
    await tap.wait_for_each(ours("PaymentConfirmed"), lambda s: s.payload["merchant_trade_no"], orders, seconds)
    await tap.wait_for_each(ours("TicketsIssued"), lambda s: s.payload["ticket_trade_no"], orders, seconds)
    write_offs: set[Hashable] = set(stream.write_offs.values())
    await tap.wait_for_each(ours("TicketWrittenOff"), lambda s: s.payload["request_id"], write_offs, seconds)


def _facts(tap: Tap, merchant_id: str) -> list[Fact]:
    """The ledger facts of the merchant's published events, once each (a republished event keeps its id)."""
    cutoff = SettlementConfig.from_env().cutoff  # the service's: the tests leave SETTLEMENT_CUTOFF alone
    events = {
        str(s.envelope.event_id): s
        for s in tap.matching(lambda s: s.type in LEDGER_EVENTS and s.payload["merchant_id"] == merchant_id)
    }
    return [fact for s in events.values() if (fact := fact_from(s.envelope, cutoff)) is not None]


async def _ledger_holds(db: asyncpg.Pool, merchant_id: str, expected: dict[uuid.UUID, Entry]) -> bool:
    entries, _ = await stored_ledger(db, [merchant_id])
    return expected.keys() <= entries.keys()


def _published(db: asyncpg.Pool, schema: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await db.fetchval(f"SELECT rows = 0 FROM {schema}.outbox_backlog()"))

    return check


async def test_a_service_starting_while_postgres_is_unreachable_waits_for_it_then_commits_synchronously(
    infra: Settings, db: asyncpg.Pool
) -> None:
    """Start-up (migrations, then the pool) during a restart, or before the database is up, waits instead of
    crashing the service: here the database's address refuses connections for a second, then answers."""
    real = urlsplit(infra.database_url)
    assert real.hostname is not None and real.port is not None
    port = free_port()  # connections to it are refused until the proxy listens there
    user = real.netloc.rpartition("@")[0]
    dsn = real._replace(netloc=f"{user}@127.0.0.1:{port}" if user else f"127.0.0.1:{port}").geturl()
    schema = "startup_" + uuid.uuid4().hex[:8]

    async def start_up() -> asyncpg.Pool:  # as shared.infra.service.start_runtime does
        await migrate(dsn, schema, Path(tempfile.mkdtemp()))
        return await create_pool(dsn, schema, min_size=1, max_size=2)

    starting = asyncio.create_task(start_up())
    await asyncio.sleep(1.0)
    assert not starting.done(), "start-up gave up on a database that was not there yet"
    proxy = await asyncio.start_server(_forward_to(real.hostname, real.port), "127.0.0.1", port)
    try:
        pool = await asyncio.wait_for(starting, 20)
        try:
            assert await pool.fetchval("SELECT count(*) FROM outbox") == 0  # migrated: the messaging tables
            # A service's commits survive an immediate restart even on a server whose default is asynchronous.
            assert await db.fetchval("SHOW synchronous_commit") == "off"
            assert await pool.fetchval("SHOW synchronous_commit") == "on"
        finally:
            await pool.close()
    finally:
        proxy.close()
        await db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _forward_to(host: str, port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A TCP proxy's connection handler: bytes both ways between the client and `host:port`."""

    async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        finally:
            sink.close()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(host, port)
        await asyncio.gather(
            pipe(client_reader, server_writer), pipe(server_reader, client_writer), return_exceptions=True
        )

    return handle


@pytest.mark.slow
async def test_a_paid_order_whose_payment_came_while_issuance_could_not_run_is_issued_not_failed(
    topics: Settings, platform: Platform, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    """The payment wait (6 s in the tests, 15 minutes in production) is not spent while issuance cannot run: its
    process is down here; a database outage leaves the same gap between two deadline sweeps. The payment reached
    the platform in time and waits in Kafka, so the order must be issued once issuance catches up."""
    merchant_id = await fresh_merchant(topics)
    trade_no = "DW" + uuid.uuid4().hex[:11].upper()
    data = {"MerchantID": merchant_id, "MerchantTradeNo": trade_no, "IssueType": "3",
            "TicketInfo": [{"ItemNo": PICKUP, "TicketAmount": 1}]}  # fmt: skip
    request_id = await merchant.send_request(merchant.request("Issue", data, merchant_id=merchant_id))
    waiting = "SELECT deadline FROM issuance.orders WHERE merchant_id = $1 AND ticket_trade_no = $2 AND status = 3"
    await until(lambda: _exists(db, waiting, merchant_id, trade_no), "the order waiting for its payment", 30)
    platform["issuance"].kill9()
    try:
        await pay(merchant_id, trade_no, PICKUP_FACE)
        await tap.wait_for(lambda s: s.type == "PaymentConfirmed" and s.payload["merchant_trade_no"] == trade_no)
        deadline = await db.fetchval(waiting, merchant_id, trade_no)
        await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 1.0)
    finally:
        await platform["issuance"].start()
    [decided] = await tap.wait_for(
        lambda s: s.type in ("TicketsIssued", "IssueFailed") and s.payload["merchant_trade_no"] == trade_no, seconds=60
    )
    assert decided.type == "TicketsIssued", decided.payload
    [reply] = await tap.wait_for(lambda s: s.type == "RequestReplied" and s.payload["request_id"] == request_id)
    assert reply.payload["rtn_code"] == SUCCESS


async def _exists(db: asyncpg.Pool, sql: str, *args: object) -> bool:
    return await db.fetchval(sql, *args) is not None


@pytest.mark.usefixtures("platform")  # the bank simulator has created its schema
async def test_the_bank_asked_again_for_an_instruction_whose_answer_a_fault_rolled_back_answers_the_same(
    topics: Settings,
) -> None:
    """The gateway asks the bank, then records the answer in its consumer's transaction; a fault rolling that back
    makes it ask again. A rule "reject once" must reject that instruction, however often it is asked, and still
    be there, used up once, for the next one."""
    merchant_id = "8" + uuid.uuid4().hex[:9]
    pool = await create_pool(topics.database_url, BANK_SCHEMA, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            await set_rule(conn, merchant_id, "reject", reason="account frozen", times=2)
        bank = SimulatedEscrowBank(pool)
        first, second = (Instruction(uuid.uuid4(), TransferKind.PAYOUT, merchant_id, None, 100) for _ in range(2))
        answers = [await bank.transfer(first) for _ in range(3)]
        assert [(a.accepted, a.reason) for a in answers] == [(False, "account frozen")] * 3
        assert await pool.fetchval("SELECT remaining FROM bank_rules WHERE subject = $1", merchant_id) == 1
        assert not (await bank.transfer(second)).accepted  # the rule's second rejection is still there
        assert (await bank.transfer(Instruction(uuid.uuid4(), TransferKind.PAYOUT, merchant_id, None, 100))).accepted
    finally:
        await pool.close()
