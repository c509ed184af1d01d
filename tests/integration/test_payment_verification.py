"""A payment is confirmed only when the payment processor's own record matches its result: over the real broker,
database and processor simulator process. A result the merchant forged, backdated, altered or that was never
captured issues no ticket and moves no money; a genuine payment captured late is confirmed when it is; a second
genuine charge is published as a duplicate; a processor outage delays verification but loses nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from services.payment_confirmation.store.waiting import WaitingResult
from services.payment_confirmation.timers import record_vouched
from shared.clock import TAIPEI
from shared.contracts.common import order_key
from shared.contracts.payments import PaymentConfirmed
from shared.ecticket.aio import aio_check_mac_value
from shared.ecticket.processor_query import processor_url
from shared.ids import content_id
from shared.infra.database import create_pool
from shared.sandbox.aio import AIO_IV, AIO_KEY, as_form, payment_result
from shared.sandbox.checkout import Checkout, capture, checkout_many
from shared.sandbox.merchant import MerchantClient, unique
from shared.sandbox.tap import Seen, Tap
from shared.settings import Settings
from shared.topics import INGEST_PAYMENTS
from tests.support.merchants import PICKUP, PICKUP_FACE, fresh_merchant
from tests.support.orders import issue_data, pay
from tests.support.processes import Platform, ServiceProcess

pytestmark = pytest.mark.usefixtures("platform")

GIVE_UP_SECONDS = 15  # tests/conftest.py: PAYMENT_VERIFY_GIVE_UP_SECONDS
SOON_SECONDS = 5  # the outage test's give-up, for the one process it restarts anyway
SOON = {"PAYMENT_VERIFY_GIVE_UP_SECONDS": str(SOON_SECONDS)}
ESCROW_DAYS = 45


def about(kind: str, trade_no: str) -> Callable[[Seen], bool]:
    return lambda s: (
        s.type == kind
        and trade_no
        in (
            s.payload.get("merchant_trade_no"),
            s.payload.get("ticket_trade_no"),
        )
    )


def resigned(fields: dict[str, str], **changes: str) -> dict[str, str]:
    """A genuine result altered by its merchant, who holds the payment keys and signs it again."""
    altered = {k: v for k, v in fields.items() if k != "CheckMacValue"} | changes
    return altered | {"CheckMacValue": aio_check_mac_value(altered, AIO_KEY, AIO_IV)}


def aio(moment: datetime) -> str:
    return moment.astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")


async def ask_to_issue(merchant: MerchantClient, merchant_id: str, trade_no: str, count: int) -> str:
    data = issue_data(trade_no, {PICKUP: count}, merchant_id=merchant_id, free=False)
    return await merchant.send_request(merchant.request("Issue", data, merchant_id=merchant_id))


async def postings_of(db: asyncpg.Pool, merchant_id: str, trade_no: str) -> int:
    """Ledger lines about the order: money it moved."""
    return int(
        await db.fetchval(
            "SELECT count(*) FROM escrow_settlement.postings p"
            " JOIN escrow_settlement.journal_entries e USING (entry_id) WHERE e.order_key = $1",
            order_key(merchant_id, trade_no),
        )
    )


async def waiting(db: asyncpg.Pool, merchant_id: str, trade_no: str) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT attempts, note FROM payment_confirmation.waiting_results"
            " WHERE merchant_id = $1 AND merchant_trade_no = $2",
            merchant_id,
            trade_no,
        )
    )


async def until(check: Callable[[], Awaitable[Any]], seconds: float = 20) -> Any:
    """Poll `check` (a coroutine function) until it returns something truthy, or fail after `seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not (found := await check()):
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return found


async def test_forged_backdated_altered_and_never_captured_results_issue_nothing_and_move_no_money(
    merchant: MerchantClient, tap: Tap, topics: Settings, db: asyncpg.Pool
) -> None:
    merchant_id = await fresh_merchant(topics)
    now = datetime.now(UTC)
    orders = {name: unique(name[:2].upper()) for name in ("forged", "stolen_no", "backdated", "altered", "uncaptured")}
    # Signed with the merchant's own keys, but nobody ever paid it: the processor has no trade for the order.
    forged = payment_result(merchant_id, orders["forged"], PICKUP_FACE, paid_at=now, ecpay_trade_no="FORGED0001")
    # A genuine trade exists for these orders; the merchant publishes its own version of the result.
    genuine = {
        name: await pay(merchant_id, orders[name], PICKUP_FACE, deliver=False)
        for name in ("stolen_no", "backdated", "altered")
    }
    sent = [
        forged,
        resigned(genuine["stolen_no"], TradeNo="INVENTED0001"),
        resigned(
            genuine["backdated"], PaymentDate=aio(now - timedelta(days=60)), TradeDate=aio(now - timedelta(days=60))
        ),
        resigned(genuine["altered"], TradeAmt=str(PICKUP_FACE * 10)),
    ]
    for fields in sent:
        await merchant.send_payment(fields)
    # Authorised, never captured; the processor delivers the result itself.
    await pay(merchant_id, orders["uncaptured"], PICKUP_FACE, capture=False)
    for trade_no in orders.values():
        await ask_to_issue(merchant, merchant_id, trade_no, 1)
    expected = {
        "forged": "not_captured",
        "stolen_no": "processor_mismatch",
        "backdated": "processor_mismatch",
        "altered": "processor_mismatch",
        "uncaptured": "not_captured",
    }
    for name, reason in expected.items():
        [rejected] = await tap.wait_for(about("PaymentRejected", orders[name]), seconds=GIVE_UP_SECONDS + 20)
        assert rejected.payload["reason"] == reason, (name, rejected.payload)
        [alert] = await tap.wait_for(about("PaymentAlertRaised", orders[name]))
        severity = "critical" if reason == "processor_mismatch" else "warning"
        assert (alert.payload["kind"], alert.payload["severity"]) == (reason, severity)
    detail = tap.matching(about("PaymentRejected", orders["altered"]))[0].payload["message"]
    assert f"TradeAmt {PICKUP_FACE * 10} in the result, {PICKUP_FACE} at the processor" in detail
    # Every Issue request is answered without tickets (its payment never came), and no money moved.
    for name, trade_no in orders.items():
        await tap.wait_for(about("IssueFailed", trade_no), seconds=30)
        assert not tap.matching(about("PaymentConfirmed", trade_no)), name
        assert not tap.matching(about("TicketsIssued", trade_no)), name
        assert await postings_of(db, merchant_id, trade_no) == 0, name
        assert not await waiting(db, merchant_id, trade_no), f"{name} still waits"


async def test_a_genuine_payment_captured_late_is_confirmed_once_the_processor_records_it(
    merchant: MerchantClient, tap: Tap, topics: Settings, db: asyncpg.Pool
) -> None:
    merchant_id = await fresh_merchant(topics, escrow_days=ESCROW_DAYS)
    trade_no = unique("LC")
    result = await pay(merchant_id, trade_no, PICKUP_FACE * 2, capture=False)
    # The verifier asked, heard "not captured", and waits.
    await until(lambda: _asked(db, merchant_id, trade_no))
    assert not tap.matching(about("PaymentConfirmed", trade_no))
    await capture(processor_url(), merchant_id, trade_no)
    [confirmed] = await tap.wait_for(about("PaymentConfirmed", trade_no), seconds=GIVE_UP_SECONDS)
    assert confirmed.payload["trade_no"] == result["TradeNo"]
    assert confirmed.payload["amount"] == PICKUP_FACE * 2
    assert confirmed.payload["escrow_days"] == ESCROW_DAYS and confirmed.payload["duplicate_of"] is None
    await ask_to_issue(merchant, merchant_id, trade_no, 2)
    [issued] = await tap.wait_for(about("TicketsIssued", trade_no))
    assert len(issued.payload["tickets"]) == 2
    assert not tap.matching(about("PaymentRejected", trade_no))


async def test_a_second_genuine_charge_is_published_as_a_duplicate_of_the_payment_that_stands(
    merchant: MerchantClient, tap: Tap, topics: Settings, db: asyncpg.Pool
) -> None:
    merchant_id = await fresh_merchant(topics)
    trade_no = unique("DC")
    first = await pay(merchant_id, trade_no, PICKUP_FACE)
    await ask_to_issue(merchant, merchant_id, trade_no, 1)
    await tap.wait_for(about("TicketsIssued", trade_no))
    second = await pay(merchant_id, trade_no, PICKUP_FACE, again=True)
    assert second["TradeNo"] != first["TradeNo"]
    duplicate = await tap.wait_for(about("PaymentConfirmed", trade_no), count=2)
    assert [(s.payload["trade_no"], s.payload["duplicate_of"]) for s in duplicate] == [
        (first["TradeNo"], None),
        (second["TradeNo"], first["TradeNo"]),
    ]
    # Either trade's result again, in other bytes (form-encoded), changes nothing.
    resent = [first, second]
    for fields in resent:
        await merchant.send_payment(fields, form=True)
    await until(lambda: _consumed(db, resent))
    await until(lambda: _none_waiting(db, merchant_id, trade_no))
    assert len(await tap.quiet_matching(about("PaymentConfirmed", trade_no))) == 2
    assert not tap.matching(about("PaymentRejected", trade_no))
    assert len(tap.matching(about("TicketsIssued", trade_no))) == 1


async def test_a_processor_outage_delays_verification_but_loses_no_payment_even_across_a_crash(
    merchant: MerchantClient, tap: Tap, topics: Settings, db: asyncpg.Pool, platform: Platform
) -> None:
    merchant_id = await fresh_merchant(topics)
    trade_no = unique("PO")
    result = await pay(merchant_id, trade_no, PICKUP_FACE, deliver=False)
    processor = platform["payment_processor"]
    await processor.stop()
    try:
        await merchant.send_payment(result)
        rows = await until(lambda: _unavailable(db, merchant_id, trade_no))
        assert rows[0]["attempts"] == 0, "an outage is no answer"
        # The service dies while the result waits; what it queued survives. It comes back giving up sooner than
        # the session's 15 s (the wait is counted from the result's arrival whatever the process), so that waiting
        # past it takes seconds less.
        platform["payment_confirmation"].kill9()
        await platform["payment_confirmation"].start(extra_env=SOON)
        # Longer than the verification wait: still, nothing is decided while the processor cannot answer.
        await asyncio.sleep(SOON_SECONDS + 1)
        assert not tap.matching(about("PaymentConfirmed", trade_no))
        assert not tap.matching(about("PaymentRejected", trade_no))
        assert await waiting(db, merchant_id, trade_no)
    finally:
        await processor.start()
    try:
        [confirmed] = await tap.wait_for(about("PaymentConfirmed", trade_no), seconds=45)
        assert confirmed.payload["trade_no"] == result["TradeNo"]
        assert not tap.matching(about("PaymentRejected", trade_no))
    finally:
        await platform["payment_confirmation"].stop()  # back to the session's give-up for the tests after it
        await platform["payment_confirmation"].start()


async def test_two_instances_verifying_small_batches_side_by_side_confirm_each_trade_once(
    merchant: MerchantClient, tap: Tap, topics: Settings, db: asyncpg.Pool, platform: Platform, tmp_path: Path
) -> None:
    # Small batches, so the two verifiers share out each order's results and race to record its payment.
    small = {"PAYMENT_VERIFY_BATCH": "3"}
    first = platform["payment_confirmation"]
    second = ServiceProcess("payment_confirmation", tmp_path, first.env | small)
    await first.stop()
    await first.start(extra_env=small)
    await second.start()
    try:
        merchant_id = await fresh_merchant(topics)
        orders = [unique("TI") for _ in range(40)]
        charges = [Checkout(merchant_id, o, PICKUP_FACE, deliver=False) for o in orders]
        firsts = await checkout_many(processor_url(), charges)
        seconds = await checkout_many(processor_url(), [replace(c, again=True) for c in charges])
        for one, two in zip(firsts, seconds, strict=True):
            await merchant.send_payment(one)
            await merchant.send_payment(two)
        wanted = set(orders)
        confirmed = await tap.wait_for(
            lambda s: s.type == "PaymentConfirmed" and s.payload["merchant_trade_no"] in wanted,
            count=2 * len(orders),
            seconds=60,
        )
    finally:
        await second.stop()
        await first.stop()
        await first.start()
    by_order: dict[str, list[dict[str, Any]]] = {}
    for seen in await tap.quiet_matching(
        lambda s: s.type == "PaymentConfirmed" and s.payload["merchant_trade_no"] in wanted
    ):
        by_order.setdefault(seen.payload["merchant_trade_no"], []).append(seen.payload)
    assert len(confirmed) == 2 * len(orders)
    for one, two in zip(firsts, seconds, strict=True):
        payments = by_order[one["MerchantTradeNo"]]
        standing = [p for p in payments if p["duplicate_of"] is None]
        duplicate = [p for p in payments if p["duplicate_of"] is not None]
        assert len(standing) == len(duplicate) == 1, payments
        assert {standing[0]["trade_no"], duplicate[0]["trade_no"]} == {one["TradeNo"], two["TradeNo"]}
        assert duplicate[0]["duplicate_of"] == standing[0]["trade_no"]
    rows = await db.fetchval(
        "SELECT count(*) FROM payment_confirmation.duplicate_payments WHERE merchant_id = $1", merchant_id
    )
    assert rows == len(orders)
    assert not tap.matching(lambda s: s.type == "PaymentRejected" and s.payload["merchant_trade_no"] in wanted)


async def test_a_verifier_that_loses_the_race_for_an_orders_first_payment_records_its_trade_as_the_duplicate(
    topics: Settings,
) -> None:
    """Deterministic version of the race above: another verifier's payment of the order commits while this one is
    inserting its own; this one waits for it, then places its trade behind it."""
    pool = await create_pool(topics.database_url, "payment_confirmation", min_size=2, max_size=2)
    try:
        trade_no, now = unique("RC"), datetime.now(UTC)
        standing = _vouched(trade_no, "T1", now)
        late = _vouched(trade_no, "T2", now)
        async with pool.acquire() as other, pool.acquire() as mine:
            other_tx, my_tx = other.transaction(), mine.transaction()
            await other_tx.start()
            await my_tx.start()
            [first] = (await record_vouched(other, [standing], now)).values()
            assert first.envelope.payload["duplicate_of"] is None
            # This verifier read no payment for the order (the other's is not committed) and inserts its own: it waits.
            mine_placed = asyncio.ensure_future(record_vouched(mine, [late], now))
            await asyncio.sleep(0.5)
            assert not mine_placed.done(), "the insert must wait for the other transaction"
            await other_tx.commit()
            [event] = (await mine_placed).values()
            await my_tx.commit()
        assert (event.envelope.payload["trade_no"], event.envelope.payload["duplicate_of"]) == ("T2", "T1")
        async with pool.acquire() as conn:
            stored = await conn.fetchval(
                "SELECT trade_no FROM payments WHERE merchant_id = 'RACE' AND merchant_trade_no = $1", trade_no
            )
            duplicates = await conn.fetch(
                "SELECT trade_no, duplicate_of FROM duplicate_payments WHERE merchant_id = 'RACE' AND merchant_trade_no = $1",
                trade_no,
            )
        assert stored == "T1" and [tuple(r) for r in duplicates] == [("T2", "T1")]
    finally:
        await pool.close()


def _vouched(order: str, trade_no: str, now: datetime) -> WaitingResult:
    claim = PaymentConfirmed(
        merchant_id="RACE", merchant_trade_no=order, trade_no=trade_no, amount=500, payment_type="Credit_CreditCard",
        payment_date=now, simulated=False, escrow_days=90,
    )  # fmt: skip
    return WaitingResult(uuid.uuid4(), claim, {"MerchantID": "RACE", "MerchantTradeNo": order}, now, 0)


async def _asked(db: asyncpg.Pool, merchant_id: str, trade_no: str) -> bool:
    return any(row["attempts"] >= 1 for row in await waiting(db, merchant_id, trade_no))


async def _consumed(db: asyncpg.Pool, sent_as_forms: list[dict[str, str]]) -> bool:
    ids = [content_id(INGEST_PAYMENTS, as_form(fields)) for fields in sent_as_forms]
    count = await db.fetchval("SELECT count(*) FROM payment_confirmation.inbox WHERE message_id = ANY($1)", ids)
    return bool(count == len(ids))


async def _none_waiting(db: asyncpg.Pool, merchant_id: str, trade_no: str) -> bool:
    return not await waiting(db, merchant_id, trade_no)


async def _unavailable(db: asyncpg.Pool, merchant_id: str, trade_no: str) -> list[asyncpg.Record]:
    rows = await waiting(db, merchant_id, trade_no)
    return rows if any(row["note"].startswith("processor unavailable") for row in rows) else []
