"""The hostile messages of issue 8, sent to the running services: each gets its specific rejection (a reply with a
validation RtnCode, a PaymentRejected, or a dead letter plus MessageRejected), the service stays alive, and the
next valid message on the same partition is answered within a second."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Awaitable
from datetime import date
from typing import Any, TypeVar

import asyncpg
import pytest

from shared.admin.seed import TEST_MERCHANT
from shared.contracts.events import wrap
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.crypto import check_mac_value, encrypt_data
from shared.ecticket.envelope import RequestEnvelope, RequestHeader
from shared.sandbox.aio import as_json, signed
from shared.sandbox.merchant import KEYS, MerchantClient, unique
from shared.sandbox.tap import Seen, Tap
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS, ISSUANCE_EVENTS
from tests.support.orders import (
    gift_order_not_yet_issued,
    gift_write_off_no,
    issue_tickets,
    pay,
    publish_issued,
    reply_data,
)
from tests.support.pos import Pos
from tests.support.processes import Platform, run_module

pytestmark = pytest.mark.usefixtures("platform")
KEY = TEST_MERCHANT.encode()  # every message on the partition of the valid merchant that follows it
T = TypeVar("T")
CONSUMERS = {"payment_confirmation": "payment-confirmation", "issuance": "issuance", "redemption": "redemption",
             "escrow_settlement": "escrow_settlement", "query": "query", "notification": "notification"}  # fmt: skip


# --- What every test checks ----------------------------------------------------------------------------------


async def within_a_second(answered: Awaitable[T]) -> T:
    started = time.monotonic()
    result = await answered
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"the next valid message took {elapsed:.2f} s"
    return result


def alive(platform: Platform) -> None:
    exited = {name: svc.process.poll() for name, svc in platform.services.items() if svc.process is not None}
    assert set(exited.values()) == {None}, exited


async def dead_lettered(tap: Tap, db: asyncpg.Pool, topic: str, raw: bytes, schemas: tuple[str, ...]) -> list[Seen]:
    """Each consumer of `topic` in `schemas` published a MessageRejected for exactly these bytes and kept them."""
    digest = hashlib.sha256(raw).hexdigest()
    consumers = {CONSUMERS[schema] for schema in schemas}
    found = await tap.wait_for(
        lambda s: (
            s.type == "MessageRejected" and s.payload["raw_sha256"] == digest and s.payload["consumer"] in consumers
        ),
        count=len(consumers),
    )
    assert {s.payload["consumer"] for s in found} == consumers and all(
        s.payload["source_topic"] == topic for s in found
    )
    for schema in schemas:
        stored = await db.fetchval(f"SELECT count(*) FROM {schema}.dead_letters WHERE value = $1", raw)
        assert stored == 1, f"{schema}: {stored} dead letters of the message"
    return found


async def a_gift_order_is_answered(merchant: MerchantClient, tap: Tap) -> None:
    trade_no = unique("HV")
    data = {"MerchantID": TEST_MERCHANT, "FreeTradeNo": trade_no, "IssueType": "3", "Operator": "tester",
            "TicketInfo": [{"ItemNo": "GF000030", "TicketAmount": 1}]}  # fmt: skip
    request_id = await merchant.send_request(merchant.request("Issue", data, merchant_id=TEST_MERCHANT))
    assert (await reply_data(tap, request_id, TEST_MERCHANT, seconds=5))["RtnCode"] == 1


async def a_payment_is_confirmed(merchant: MerchantClient, tap: Tap) -> None:
    trade_no = unique("HP")
    await pay(TEST_MERCHANT, trade_no, 500)  # a genuine payment, delivered by the processor on the same partition
    await tap.wait_for(lambda s: s.type == "PaymentConfirmed" and s.payload["merchant_trade_no"] == trade_no, seconds=5)


async def signed_payment(trade_no: str, **changes: str) -> bytes:
    """A genuine payment's result (paid at the processor, not delivered) with some fields changed and signed again
    with the merchant's payment keys."""
    genuine = await pay(TEST_MERCHANT, trade_no, 500, deliver=False)
    return as_json(signed(genuine | changes))


def sealed(operation: str, plaintext: str) -> dict[str, Any]:
    """A request whose Data is exactly `plaintext`, sealed with the merchant's keys (the caller is authentic)."""
    key, iv = KEYS[TEST_MERCHANT]
    envelope = RequestEnvelope(
        merchant_id=TEST_MERCHANT,
        rq_header=RequestHeader(timestamp=int(time.time())),
        data=encrypt_data(plaintext, key, iv),
        check_mac_value=check_mac_value(plaintext, key, iv),
    )
    return {"request_id": unique("RH"), "operation": operation, "envelope": envelope.to_wire()}


# --- Messages no reply can be addressed to: dead letters ------------------------------------------------------


async def test_a_payment_result_nested_1200_levels_deep_is_dead_lettered_and_payments_go_on(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool, platform: Platform
) -> None:
    raw = b'{"MerchantID":"3085676","MerchantTradeNo":"' + unique("DP").encode() + b'","x":'
    raw += b"[" * 1200 + b"]" * 1200 + b"}"
    assert len(raw) > 2400
    await merchant.send_raw(INGEST_PAYMENTS, raw, key=KEY)
    [rejected] = await dead_lettered(tap, db, INGEST_PAYMENTS, raw, ("payment_confirmation",))
    assert "nested deeper" in rejected.payload["error"]
    await within_a_second(a_payment_is_confirmed(merchant, tap))
    alive(platform)


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        (b'{"MerchantID":"3085676","MerchantTradeNo":"%s","\\u0000":"x"}', "contains NUL"),
        (b'{"MerchantID":"3085676","MerchantTradeNo":"%s","\\ud800":7}', "unpaired surrogate"),
        (b'{"MerchantID":"3085676","MerchantTradeNo":"%s","RtnMsg":"paid\\u0000"}', "contains NUL"),
        (b"MerchantID=3085676&MerchantTradeNo=%s&RtnMsg=%%00", "contains NUL"),
        (b'{"MerchantID":"3085676","MerchantTradeNo":"%s' + b"A" * 3000 + b'"}', "exceeds the limit of 1024"),
        (b'{"MerchantID":"3085676","MerchantTradeNo":"%sAAAAAAAAAA"}', "MerchantTradeNo is not an AIO"),
        (b'{"MerchantID":"\\u0000","MerchantTradeNo":"%s"}', "contains NUL"),
    ],
    ids=[
        "nul-key",
        "lone-surrogate-key",
        "nul-value-for-jsonb",
        "nul-form-value",
        "index-row-too-big",
        "too-long-order-no",
        "nul-id",
    ],
)
async def test_a_payment_result_with_nul_surrogates_or_an_unindexable_order_number_is_dead_lettered(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool, platform: Platform, body: bytes, rule: str
) -> None:
    raw = body % unique("DP").encode()
    await merchant.send_raw(INGEST_PAYMENTS, raw, key=KEY)
    [rejected] = await dead_lettered(tap, db, INGEST_PAYMENTS, raw, ("payment_confirmation",))
    assert rule in rejected.payload["error"]
    await within_a_second(a_payment_is_confirmed(merchant, tap))
    alive(platform)


@pytest.mark.parametrize(
    "envelope",
    [{"MerchantID": "\x00"}, {"MerchantID": "3085676\x00"}, {"MerchantID": "x" * 3000}, {"MerchantID": 3085676}],
    ids=["nul", "trailing-nul", "too-long", "not-a-string"],
)
@pytest.mark.parametrize("operation", ["Issue", "WriteOff"])
async def test_an_ingest_request_whose_merchant_id_cannot_be_replied_to_is_dead_lettered_once_for_the_platform(
    merchant: MerchantClient,
    tap: Tap,
    db: asyncpg.Pool,
    platform: Platform,
    operation: str,
    envelope: dict[str, Any],
) -> None:
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "GF000030") if operation == "WriteOff" else [{}]
    raw = json.dumps({"request_id": unique("x"), "operation": operation, "envelope": envelope}).encode()
    await merchant.send_raw(INGEST_REQUESTS, raw, key=KEY)
    for rejected in await dead_lettered(tap, db, INGEST_REQUESTS, raw, ("issuance",)):
        assert "no reply can be sent" in rejected.payload["error"] or "contains NUL" in rejected.payload["error"]
    if operation == "Issue":
        await within_a_second(a_gift_order_is_answered(merchant, tap))
    else:
        done = await within_a_second(Pos(merchant, tap, TEST_MERCHANT).write_off(ticket["write_off_no"]))
        assert done["RtnCode"] == 1
    alive(platform)


@pytest.mark.parametrize("request_id", ["R\x00", "R 1", "R" * 65, "收據"])
async def test_an_ingest_request_whose_request_id_is_not_visible_ascii_is_dead_lettered(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool, platform: Platform, request_id: str
) -> None:
    data = {"MerchantID": TEST_MERCHANT, "FreeTradeNo": unique("NR"), "IssueType": "3", "Operator": "tester",
            "TicketInfo": [{"ItemNo": "GF000030", "TicketAmount": 1}]}  # fmt: skip
    message = merchant.request("Issue", data, merchant_id=TEST_MERCHANT, request_id=request_id)
    raw = json.dumps(message).encode()
    await merchant.send_raw(INGEST_REQUESTS, raw, key=KEY)
    await dead_lettered(tap, db, INGEST_REQUESTS, raw, ("issuance",))
    await within_a_second(a_gift_order_is_answered(merchant, tap))
    alive(platform)


# --- Authenticated requests that break a rule: a reply with the validation code -------------------------------

LINE = '{"ItemNo":"GF000030","TicketAmount":1}'


@pytest.mark.parametrize(
    ("plaintext", "code"),
    [
        ('{"MerchantID":"3085676","FreeTradeNo":"%s","IssueType":"3","TicketInfo":[{"ItemNo":"GF000030","TicketAmount":true}]}', RtnCode.DATA_INVALID),
        ('{"MerchantID":"3085676","FreeTradeNo":"%s","IssueType":"3","TicketInfo":[{"ItemNo":"GF000030","TicketAmount":1,"ExpireDate":"99991231"}]}', RtnCode.TICKET_LINES_INVALID),
        ('{"MerchantID":"3085676","FreeTradeNo":"%s\\u0000","IssueType":"3","TicketInfo":[' + LINE + "]}", RtnCode.DATA_INVALID),
        ('{"MerchantID":"3085676","FreeTradeNo":"%s' + "F" * 3000 + '","IssueType":"3","TicketInfo":[' + LINE + "]}", RtnCode.DATA_INVALID),
        ('{"MerchantID":"3085676","MerchantTradeNo":"%s","IssueType":"4","TicketInfo":[{"ItemName":"Gala","TicketPrice":2147483648,"TicketAmount":1}]}', RtnCode.DATA_INVALID),
        ('{"MerchantID":"3085676","FreeTradeNo":"%s","\\u0000":1,"IssueType":"3","TicketInfo":[' + LINE + "]}", RtnCode.DATA_INVALID),
        ('{"MerchantID":"3085676","FreeTradeNo":"%s","\\ud800":1,"IssueType":"3","TicketInfo":[' + LINE + "]}", RtnCode.DATA_INVALID),
        ('{"MerchantID":"3085676","FreeTradeNo":"%s","x":' + "[" * 1200 + "]" * 1200 + "}", RtnCode.DATA_INVALID),
    ],
    ids=["ticket-amount-true", "expire-9999", "nul-free-trade-no", "index-row-too-big", "int32-price", "nul-key",
         "lone-surrogate-key", "1200-deep"],
)  # fmt: skip
async def test_signed_issue_data_that_breaks_a_limit_is_answered_with_its_validation_code(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool, platform: Platform, plaintext: str, code: RtnCode
) -> None:
    trade_no = unique("HI")
    message = sealed("Issue", plaintext % trade_no)
    request_id = await merchant.send_request(message)
    answer = await reply_data(tap, request_id, TEST_MERCHANT)
    assert answer["RtnCode"] == code, answer
    issued = await db.fetchval("SELECT count(*) FROM issuance.tickets WHERE ticket_trade_no LIKE $1", f"{trade_no}%")
    assert issued == 0
    await within_a_second(a_gift_order_is_answered(merchant, tap))
    alive(platform)


@pytest.mark.parametrize(
    "data",
    [
        {"WriteOffNo": "W" * 3000, "Action": "1", "Operator": "pos1"},
        {"WriteOffNo": "WO\x01", "Action": "1", "Operator": "pos1"},
        {"WriteOffNo": "WO1", "Action": True, "Operator": "pos1"},
        {"WriteOffNo": "WO1", "Action": "1", "Operator": "pos\x00"},
    ],
    ids=["index-row-too-big", "control-character", "action-true", "nul-operator"],
)
async def test_a_signed_write_off_that_breaks_a_limit_is_answered_1001_and_the_next_one_within_a_second(
    merchant: MerchantClient, tap: Tap, platform: Platform, data: dict[str, Any]
) -> None:
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "GF000030")
    pos = Pos(merchant, tap, TEST_MERCHANT)
    refused = await pos.answer(
        merchant.request("WriteOff", {"MerchantID": TEST_MERCHANT, **data}, merchant_id=TEST_MERCHANT)
    )
    assert refused["RtnCode"] == RtnCode.DATA_INVALID
    assert (await within_a_second(pos.write_off(ticket["write_off_no"])))["RtnCode"] == 1
    alive(platform)


# --- Signed payments that are not what they claim: PaymentRejected, never money ------------------------------


@pytest.mark.parametrize(
    "changes",
    [{"TradeAmt": amount} for amount in ("+500", " 500", "5_00", "٥٠٠", "５００", "²", "99999999999")]
    + [{"PaymentDate": "9999/12/31 23:59:59"}, {"TradeDate": "0001/01/01 00:00:00"}],
    ids=["plus", "space", "underscore", "arabic-indic", "full-width", "superscript", "int32", "pay-9999", "trade-0001"],
)
async def test_a_signed_payment_with_a_loose_amount_or_a_far_date_is_rejected_as_invalid_fields(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool, platform: Platform, changes: dict[str, str]
) -> None:
    trade_no = unique("HA")
    await merchant.send_raw(INGEST_PAYMENTS, await signed_payment(trade_no, **changes), key=KEY)
    [rejected] = await tap.wait_for(
        lambda s: s.type == "PaymentRejected" and s.payload["merchant_trade_no"] == trade_no
    )
    # A loose TradeAmt is no amount at all (not 500, and no crash on "²"); a far date leaves the amount readable.
    assert (rejected.payload["reason"], rejected.payload["amount"]) == (
        "invalid_fields", None if "TradeAmt" in changes else 500,
    )  # fmt: skip
    held = await db.fetchval(
        "SELECT count(*) FROM payment_confirmation.payments WHERE merchant_trade_no = $1", trade_no
    )
    assert held == 0, "no money is held for it"
    await within_a_second(a_payment_is_confirmed(merchant, tap))
    alive(platform)


async def test_an_order_paid_with_a_signed_payment_date_of_9999_fails_2009_instead_of_9999(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    trade_no = unique("H9")
    await merchant.send_raw(INGEST_PAYMENTS, await signed_payment(trade_no, PaymentDate="9999/12/31 23:59:59"), key=KEY)
    data = {"MerchantID": TEST_MERCHANT, "MerchantTradeNo": trade_no, "IssueType": "3", "Operator": "tester",
            "TicketInfo": [{"ItemNo": "PU000500", "TicketAmount": 1}]}  # fmt: skip
    request_id = await merchant.send_request(merchant.request("Issue", data, merchant_id=TEST_MERCHANT))
    answer = await reply_data(tap, request_id, TEST_MERCHANT)
    assert answer["RtnCode"] == RtnCode.PAYMENT_NOT_ACCEPTED and "invalid_fields" in answer["RtnMsg"]
    assert await db.fetchval("SELECT count(*) FROM issuance.tickets WHERE ticket_trade_no = $1", trade_no) == 0


# --- Domain events -----------------------------------------------------------------------------------------------


async def test_a_gift_voucher_that_expires_on_the_last_representable_day_is_stored_and_redeemable(
    merchant: MerchantClient, tap: Tap, platform: Platform
) -> None:
    event = gift_order_not_yet_issued(TEST_MERCHANT)
    last_day = tuple(t.model_copy(update={"expire_date": date.max}) for t in event.tickets)
    event = event.model_copy(update={"tickets": last_day})
    await publish_issued(merchant, event)
    [ticket] = event.tickets
    done = await Pos(merchant, tap, TEST_MERCHANT).write_off(gift_write_off_no(ticket))
    assert done["RtnCode"] == 1
    alive(platform)


async def test_a_domain_event_carrying_a_nul_escape_is_dead_lettered_by_each_consumer(
    merchant: MerchantClient, tap: Tap, db: asyncpg.Pool, platform: Platform
) -> None:
    [ticket] = await issue_tickets(merchant, tap, TEST_MERCHANT, "GF000030")
    event = gift_order_not_yet_issued(TEST_MERCHANT)
    out = wrap(event, event_id=uuid.uuid4(), occurred_at=event.issued_at, producer="issuance",
               correlation_id=event.request_id, causation_id=None)  # fmt: skip
    raw = out.envelope.to_bytes().replace(b'"Free dessert"', b'"Free\\u0000dessert"')
    assert b"\\u0000" in raw
    await merchant.send_raw(ISSUANCE_EVENTS, raw, key=out.key.encode())
    schemas = ("redemption", "escrow_settlement", "query", "notification")
    for rejected in await dead_lettered(tap, db, ISSUANCE_EVENTS, raw, schemas):
        assert "contains NUL" in rejected.payload["error"]
    done = await within_a_second(Pos(merchant, tap, TEST_MERCHANT).write_off(ticket["write_off_no"]))
    assert done["RtnCode"] == 1
    alive(platform)
    # A forged fact is a money dead letter (a settlement `cli check` violation) until an operator closes it: close it, so
    # the test leaves the platform as it found it.
    for schema in schemas:
        letter = await db.fetchval(f"SELECT id FROM {schema}.dead_letters WHERE value = $1", raw)
        status, said = await run_module("shared.admin", "dead-letters", "dismiss", "--service", schema, "--id", str(letter),
                                 "--reason", "test: a forged event with a NUL")  # fmt: skip
        assert status == 0, said
