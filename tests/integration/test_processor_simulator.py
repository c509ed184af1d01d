"""The payment-processor simulator, as its own process on the real broker and database: a checkout records a trade
and delivers a result only the merchant's keys sign; the platform's batch query tells what was really captured,
signed with the platform's keys; the reconciliation file lists each captured trade once."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.admin.clocks import advance_clock
from shared.clock import TAIPEI, business_date
from shared.ecticket.aio import verify_aio_check_mac_value
from shared.ecticket.processor_query import (
    ProcessorCredentials,
    processor_credentials,
    processor_url,
    query_mac,
    verify_query_mac,
)
from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import partitions_of
from shared.sandbox.aio import AIO_IV, AIO_KEY
from shared.sandbox.checkout import ProcessorError, capture, checkout, query_trades, recon
from shared.sandbox.merchant import unique
from shared.sandbox.tap import Tap
from shared.settings import Settings
from shared.topics import INGEST_PAYMENTS
from tests.support.merchants import PICKUP_FACE, fresh_merchant

pytestmark = pytest.mark.usefixtures("platform")


@dataclass
class Deliveries:
    """Every AIO result published on the payments ingestion topic once `started` is set, as (key, fields): the
    session's tap reads domain events only, and these are raw AIO bodies."""

    bootstrap: str
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, **kafka_security())
        await consumer.start()
        try:
            parts = [
                TopicPartition(INGEST_PAYMENTS, p)
                for p in (await partitions_of(self.bootstrap, [INGEST_PAYMENTS]))[INGEST_PAYMENTS]
            ]
            consumer.assign(parts)
            await consumer.seek_to_end(*parts)
            for tp in parts:
                await consumer.position(tp)
            self.started.set()
            while True:
                for records in (await consumer.getmany(timeout_ms=100)).values():
                    for r in records:
                        with contextlib.suppress(ValueError):
                            body = json.loads(r.value)
                            if isinstance(body, dict):
                                self.seen.append((r.key.decode() if r.key else "", body))
        finally:
            await asyncio.gather(consumer.stop(), return_exceptions=True)

    def of(self, trade_no: str) -> list[tuple[str, dict[str, str]]]:
        return [(key, fields) for key, fields in self.seen if fields.get("MerchantTradeNo") == trade_no]

    async def wait_for(self, trade_no: str, count: int = 1, seconds: float = 15) -> list[tuple[str, dict[str, str]]]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(found := self.of(trade_no)) < count:
            assert loop.time() < deadline, f"{len(found)} of {count} results for {trade_no} delivered in {seconds}s"
            await asyncio.sleep(0.05)
        return found


@pytest.fixture
async def deliveries(topics: Settings) -> AsyncIterator[Deliveries]:
    watching = Deliveries(topics.kafka_bootstrap)
    task = asyncio.create_task(watching.run())
    await asyncio.wait_for(watching.started.wait(), 30)
    yield watching
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.fixture
async def merchant_id(topics: Settings) -> str:
    return await fresh_merchant(topics)


def signed_by_the_processor(answer: dict[str, Any]) -> bool:
    return verify_query_mac(answer, *processor_credentials())


async def trades_of(*orders: tuple[str, str]) -> list[dict[str, Any]]:
    answer = await query_trades(processor_url(), list(orders))
    assert signed_by_the_processor(answer), answer
    return list(answer["Trades"])


async def test_a_checkout_records_a_captured_trade_and_delivers_a_result_the_merchants_keys_sign(
    merchant_id: str, deliveries: Deliveries, tap: Tap
) -> None:
    trade_no = unique("PS")
    result = await checkout(processor_url(), merchant_id, trade_no, PICKUP_FACE)

    [(key, delivered)] = await deliveries.wait_for(trade_no)
    assert (key, delivered) == (merchant_id, result)  # keyed by MerchantID, as the platform's ingestion expects
    assert verify_aio_check_mac_value(delivered, AIO_KEY, AIO_IV)  # the merchant's payment keys
    assert (delivered["RtnCode"], delivered["TradeAmt"], delivered["PaymentType"]) == ("1", "500", "Credit_CreditCard")
    assert delivered["TradeNo"].isdigit() and len(delivered["TradeNo"]) <= 20
    paid_at = datetime.strptime(delivered["PaymentDate"], "%Y/%m/%d %H:%M:%S").replace(tzinfo=TAIPEI)
    assert abs(paid_at - datetime.now(UTC)) < timedelta(minutes=1)
    [trade] = await trades_of((merchant_id, trade_no))
    assert trade == {
        "MerchantID": merchant_id,
        "MerchantTradeNo": trade_no,
        "TradeNo": result["TradeNo"],
        "TradeAmt": 500,
        "TradeStatus": "1",
        "PaymentType": "Credit_CreditCard",
        "PaymentDate": result["PaymentDate"],
        "TradeDate": result["TradeDate"],
    }
    # ... and the platform confirms the payment it was delivered.
    [confirmed] = await tap.wait_for(
        lambda s: s.type == "PaymentConfirmed" and s.payload["merchant_trade_no"] == trade_no
    )
    assert (confirmed.payload["trade_no"], confirmed.payload["amount"]) == (result["TradeNo"], 500)


async def test_a_second_checkout_of_an_order_is_the_same_trade_delivered_once(
    merchant_id: str, deliveries: Deliveries
) -> None:
    trade_no = unique("PI")
    first = await checkout(processor_url(), merchant_id, trade_no, PICKUP_FACE)
    again = await checkout(processor_url(), merchant_id, trade_no, 900)
    assert again == first
    await deliveries.wait_for(trade_no)
    await asyncio.sleep(1.0)
    assert len(deliveries.of(trade_no)) == 1
    assert len(await trades_of((merchant_id, trade_no))) == 1


async def test_a_result_not_to_be_delivered_is_answered_signed_but_never_published(
    merchant_id: str, deliveries: Deliveries
) -> None:
    trade_no, other = unique("PN"), unique("PD")
    kept = await checkout(processor_url(), merchant_id, trade_no, PICKUP_FACE, deliver=False)
    await checkout(processor_url(), merchant_id, other, PICKUP_FACE)  # published after it, in the same partition
    await deliveries.wait_for(other)
    assert verify_aio_check_mac_value(kept, AIO_KEY, AIO_IV)
    assert deliveries.of(trade_no) == []
    assert [t["TradeNo"] for t in await trades_of((merchant_id, trade_no))] == [kept["TradeNo"]]


async def test_the_batch_query_answers_each_orders_trades_signed_with_the_platforms_keys(merchant_id: str) -> None:
    url = processor_url()
    captured, authorised, doubled, unknown = (unique(p) for p in ("QC", "QA", "QD", "QU"))
    await checkout(url, merchant_id, captured, 500, deliver=False)
    await checkout(url, merchant_id, authorised, 700, capture=False, deliver=False)
    first = await checkout(url, merchant_id, doubled, 500, deliver=False)
    second = await checkout(url, merchant_id, doubled, 500, deliver=False, again=True)
    assert second["TradeNo"] != first["TradeNo"]

    asked = [(merchant_id, o) for o in (captured, authorised, doubled, unknown)]
    trades = await trades_of(*asked)
    assert [(t["MerchantTradeNo"], t["TradeAmt"], t["TradeStatus"]) for t in trades] == [
        (captured, 500, "1"),
        (authorised, 700, "0"),
        (doubled, 500, "1"),
        (doubled, 500, "1"),
    ]
    assert [t["TradeNo"] for t in trades[2:]] == [first["TradeNo"], second["TradeNo"]]

    [now_captured] = await capture(url, merchant_id, authorised)
    assert now_captured["TradeStatus"] == "1"
    assert [t["TradeStatus"] for t in await trades_of((merchant_id, authorised))] == ["1"]


async def test_a_query_not_signed_with_the_platforms_keys_is_refused() -> None:
    with pytest.raises(ProcessorError) as refused:
        merchants_keys = ProcessorCredentials("7b53896b742849d3", "37a0ad3c6ffa428b")
        await query_trades(processor_url(), [("3085676", "X1")], credentials=merchants_keys)
    assert refused.value.status == 401


async def test_a_query_of_more_than_a_thousand_orders_is_refused() -> None:
    orders = [{"MerchantID": "3085676", "MerchantTradeNo": f"O{i}"} for i in range(1001)]
    query: dict[str, object] = {"PlatformID": "ECTICKET", "TimeStamp": 1, "Orders": orders}
    query["CheckMacValue"] = query_mac(query, *processor_credentials())
    status, answer = await post("/Cashier/QueryTradeInfo/Batch", query)
    assert status == 400 and "1001 orders exceed" in answer["error"]


async def post(path: str, body: object) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(processor_url() + path, json=body) as response:
        return response.status, await response.json()


async def test_recon_lists_each_captured_trade_once_after_the_last_seq_read(merchant_id: str) -> None:
    url = processor_url()
    paid, later = unique("RP"), unique("RL")
    paid_result = await checkout(url, merchant_id, paid, 500, deliver=False)
    await checkout(url, merchant_id, later, 800, capture=False, deliver=False)
    today = business_date(datetime.now(UTC))

    rows = ours(await recon(url, today), merchant_id)
    assert [(r["MerchantTradeNo"], r["TradeNo"], r["TradeAmt"]) for r in rows] == [
        (paid, paid_result["TradeNo"], "500")
    ]
    last = max(int(r["Seq"]) for r in csv.DictReader((await recon(url, today)).splitlines()))

    await capture(url, merchant_id, later)
    new_rows = ours(await recon(url, today, after=last), merchant_id)
    assert [(r["MerchantTradeNo"], r["TradeAmt"]) for r in new_rows] == [(later, "800")]
    assert int(new_rows[0]["Seq"]) > last
    assert ours(await recon(url, today, after=int(new_rows[0]["Seq"])), merchant_id) == []
    assert ours(await recon(url, today - timedelta(days=1)), merchant_id) == []


def ours(text: str, merchant_id: str) -> list[dict[str, str]]:
    reader = csv.DictReader(text.splitlines())
    assert reader.fieldnames == [
        "Seq", "MerchantID", "MerchantTradeNo", "TradeNo", "TradeAmt", "PaymentType", "PaymentDate", "CaptureDate",
    ]  # fmt: skip
    return [row for row in reader if row["MerchantID"] == merchant_id]


async def test_the_payment_date_is_as_asked_or_now_on_the_merchants_test_clock(
    topics: Settings, merchant_id: str
) -> None:
    url = processor_url()
    asked = datetime(2026, 1, 2, 3, 4, 5, tzinfo=TAIPEI)
    result = await checkout(url, merchant_id, unique("PA"), 500, paid_at=asked, deliver=False)
    assert (result["PaymentDate"], result["TradeDate"]) == ("2026/01/02 03:04:05", "2026/01/02 03:04:05")

    await advance_clock(topics, merchant_id, timedelta(days=2))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:  # the processor follows the test-clock topic: the shift shows within moments
        shifted = await checkout(url, merchant_id, unique("PT"), 500, deliver=False, capture=False)
        paid_at = datetime.strptime(shifted["PaymentDate"], "%Y/%m/%d %H:%M:%S").replace(tzinfo=TAIPEI)
        if paid_at > datetime.now(UTC) + timedelta(days=1):
            break
        assert loop.time() < deadline, "the merchant's test clock never reached the processor"
        await asyncio.sleep(0.2)
    assert abs(paid_at - (datetime.now(UTC) + timedelta(days=2))) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"MerchantID": "0000000001", "MerchantTradeNo": "X1", "TotalAmount": 500}, 404),
        ({"MerchantID": "3085676", "MerchantTradeNo": "X-1", "TotalAmount": 500}, 400),
        ({"MerchantID": "3085676", "MerchantTradeNo": "X1", "TotalAmount": "500"}, 400),
        ({"MerchantID": "3085676", "MerchantTradeNo": "X1", "TotalAmount": 0}, 400),
        ({"MerchantID": "3085676", "MerchantTradeNo": "X1", "TotalAmount": 5, "Capture": "yes"}, 400),
        ({"MerchantID": "3085676", "MerchantTradeNo": "X1", "TotalAmount": 5, "PaymentDate": "2026-01-02"}, 400),
        ([], 400),
    ],
)
async def test_a_checkout_it_cannot_take_is_refused_and_records_nothing(body: object, status: int) -> None:
    assert (await post("/checkout", body))[0] == status
    assert await trades_of(("3085676", "X1"), ("0000000001", "X1")) == []
