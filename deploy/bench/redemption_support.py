"""Plumbing of the redemption benchmark: a bench merchant, tickets seeded as TicketsIssued, replies, and waits.

Tickets are seeded by publishing `TicketsIssued` straight onto the issuance topic, as issuance would: redemption
learns its tickets only from these events, so what it stores is exactly what a real issuance would give it, at a
fraction of the cost of pushing a million tickets through payment and issuance first.
"""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import string
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import SecretStr

from deploy.bench.common import load_producer
from shared.admin.publish import put_merchants
from shared.clock import business_date
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.contracts.events import wrap
from shared.contracts.issuance import IssuedTicket, TicketsIssued
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import LOAD_GENERATOR_CLIENT
from shared.infra.seal import sealed_headers
from shared.infra.topics_admin import partitions_of
from shared.merchants.model import MerchantRecord, Mode
from shared.merchants.sealing import MerchantSecrets, seal
from shared.sandbox.aio import AIO_IV, AIO_KEY
from shared.sandbox.merchant import KEYS
from shared.settings import Settings
from shared.topics import INGEST_REPLIES

FEE = RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000)
PICKUP_FACE = 500


async def bench_merchant(settings: Settings, name: str) -> str:
    """A new sandbox merchant (so its test clock can move) with its own keys; a rerun never meets old tickets."""
    merchant_id = "8" + "".join(secrets.choice(string.digits) for _ in range(9))
    alphabet = string.ascii_letters + string.digits
    key, iv = ("".join(secrets.choice(alphabet) for _ in range(16)) for _ in range(2))
    keys = MerchantSecrets(
        ticket_hash_key=SecretStr(key),
        ticket_hash_iv=SecretStr(iv),
        payment_hash_key=SecretStr(AIO_KEY),
        payment_hash_iv=SecretStr(AIO_IV),
    )
    record = MerchantRecord(
        merchant_id=merchant_id,
        name=f"bench {name} {merchant_id}",
        mode=Mode.SANDBOX,
        escrow_days=90,
        refund_fee_rule=FEE,
        secrets=seal(keys, merchant_id, settings.config_key_hex),
        updated_at=datetime.now(UTC),
    )
    KEYS[merchant_id] = (key, iv)  # MerchantClient seals this merchant's requests with them
    await put_merchants(settings.kafka_bootstrap, [record])
    return merchant_id


def issued_orders(
    merchant_id: str, run: str, tickets: int, per_order: int, kinds: tuple[TicketType, ...]
) -> Iterator[tuple[TicketsIssued, list[IssuedTicket]]]:
    """Orders of `per_order` tickets issued today, cycling through `kinds`: pickup vouchers in escrow for 90
    days, gift vouchers usable for 30. Ticket and WriteOff numbers are unique per run."""
    today = business_date(datetime.now(UTC))
    for number, first in enumerate(range(0, tickets, per_order)):
        kind = kinds[number % len(kinds)]
        pickup = kind is TicketType.PICKUP
        lines = [
            IssuedTicket(
                ticket_no=f"N{run}{i:09d}",
                **_code(f"N{run}{i:09d}", f"W{run}{i:09d}"),
                ticket_type=kind,
                item_no="PU000500" if pickup else "GF000030",
                item_name="Afternoon tea" if pickup else "Free dessert",
                face_value=PICKUP_FACE if pickup else 0,
                start_date=today,
                expire_date=None if pickup else today + timedelta(days=29),
                refund_fee_rule=FEE,
            )
            for i in range(first, min(tickets, first + per_order))
        ]
        yield _order(merchant_id, f"B{run}{number:07d}", lines, today, pickup), lines


def write_off_no(line: IssuedTicket) -> str:
    """The WriteOffNo `issued_orders` drew for this ticket (events carry it only hashed and sealed)."""
    return "W" + line.ticket_no[1:]


@functools.cache
def _code_key() -> CodeKey:
    return CodeKey.from_hex(Settings.from_env().code_key_hex)  # the services' key: redemption looks codes up by it


def _code(ticket_no: str, write_off_no: str) -> dict[str, str]:
    digest, sealed = _code_key().protect(ticket_no, write_off_no)
    return {"write_off_hash": digest, "write_off_sealed": sealed}


def _order(merchant_id: str, trade_no: str, lines: list[IssuedTicket], today: date, pickup: bool) -> TicketsIssued:
    return TicketsIssued(
        merchant_id=merchant_id,
        platform_id=None,
        ticket_trade_no=trade_no,
        merchant_trade_no=trade_no if pickup else None,
        free_trade_no=None if pickup else trade_no,
        request_id=f"R{trade_no}",
        issue_type="3",
        issued_at=datetime.now(UTC),
        payment=None,
        escrow_days=90 if pickup else None,
        escrow_expiry_date=today + timedelta(days=89) if pickup else None,
        total_face_value=sum(t.face_value for t in lines),
        tickets=tuple(lines),
    )


async def publish_issued(bootstrap: str, orders: Iterator[tuple[TicketsIssued, list[IssuedTicket]]]) -> int:
    """Publish the orders as issuance would (same envelope, topic and key); returns how many tickets."""
    producer = AIOKafkaProducer(
        client_id=LOAD_GENERATOR_CLIENT,
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=20,
        max_request_size=4 * 1024 * 1024,
        **kafka_security(),
    )
    await producer.start()
    count, pending = 0, []
    try:
        for order, lines in orders:
            out = wrap(
                order,
                event_id=uuid.uuid4(),
                occurred_at=order.issued_at,
                producer="issuance",
                correlation_id=order.request_id,
                causation_id=None,
            )
            value, key = out.envelope.to_bytes(), out.key.encode()
            headers = sealed_headers(out.topic, key, value)  # as issuance's relay seals it
            pending.append(await producer.send(out.topic, value, key=key, headers=headers))
            count += len(lines)
            if len(pending) >= 200:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


async def wait_stored(pool: asyncpg.Pool, merchant_id: str, count: int, seconds: float) -> float:
    """Wait until redemption has stored `count` tickets of the merchant; returns when (perf_counter)."""
    deadline = time.perf_counter() + seconds
    while True:
        stored = await pool.fetchval("SELECT count(*) FROM redemption.tickets WHERE merchant_id = $1", merchant_id)
        if stored >= count:
            return time.perf_counter()
        if time.perf_counter() > deadline:
            raise TimeoutError(f"redemption stored {stored} of {count} tickets in {seconds:.0f} s")
        await asyncio.sleep(0.5)


async def wait_consumed(bootstrap: str, group: str, topics: list[str], seconds: float) -> None:
    """Wait until consumer group `group` has committed up to the end of `topics` (its backlog is done)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_security())
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_security())
    await admin.start()
    await probe.start()
    try:
        known = await partitions_of(bootstrap, topics)
        partitions = [TopicPartition(t, p) for t, numbers in known.items() for p in numbers]
        deadline = time.perf_counter() + seconds
        while True:
            ends = await probe.end_offsets(partitions)
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            # A partition the group never committed on reports offset -1: all of it is still to be read.
            done = {tp: max(0, meta.offset) for tp, meta in committed.items()}
            behind = sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())
            if behind == 0:
                return
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{group} is still {behind} messages behind after {seconds:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await probe.stop()
        await admin.close()


async def wait_published(pool: asyncpg.Pool, seconds: float) -> None:
    """Wait until redemption's relay has published its whole outbox."""
    deadline = time.perf_counter() + seconds
    while await pool.fetchval("SELECT rows FROM redemption.outbox_backlog()"):
        if time.perf_counter() > deadline:
            raise TimeoutError(f"redemption's outbox not published after {seconds:.0f} s")
        await asyncio.sleep(0.5)


async def pos_producer(settings: Settings) -> AIOKafkaProducer:
    """The bench's point of sale's producer, started: exempt from the produce quota (a load generator)."""
    return await load_producer(settings.kafka_bootstrap, linger_ms=1)


class ReplyWatcher:
    """When each request's reply appears on the replies topic (perf_counter), and its RequestReplied payload;
    `arrived` is set (and replaced) after every batch of replies, for callers waiting on one of them."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.seen: dict[str, tuple[float, dict[str, Any]]] = {}
        # Wall clock, for comparing with other processes' stamps: the reply record's timestamp (set by the relay's
        # producer as it sends) and when it was seen here (deploy/bench/writeoff_hops.py).
        self.stamps: dict[str, tuple[float, float]] = {}
        self.arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        known = await partitions_of(self.bootstrap, [INGEST_REPLIES])
        tps = [TopicPartition(INGEST_REPLIES, p) for p in known[INGEST_REPLIES]]
        # A short fetch wait, as docs/integrating.md advises a client with many requests in flight: with the default
        # 500 ms the replies arrive in clumps and the client's own fetch is most of what is measured.
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5, **kafka_security()
        )
        await self.consumer.start()
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)  # resolve "end" now: nothing published after start() is missed
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100)
            now, wall = time.perf_counter(), time.time()
            for records in batch.values():
                for r in records:
                    payload = json.loads(r.value)["payload"]
                    self.seen.setdefault(payload["request_id"], (now, payload))
                    self.stamps.setdefault(payload["request_id"], (r.timestamp / 1000, wall))
            if batch:
                self.arrived.set()
                self.arrived = asyncio.Event()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.consumer.stop()

    async def wait(self, request_ids: list[str], seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while any(r not in self.seen for r in request_ids):
            if time.perf_counter() > deadline:
                missing = sum(1 for r in request_ids if r not in self.seen)
                raise TimeoutError(f"{missing} requests not answered after {seconds:.0f} s")
            await asyncio.sleep(0.05)
