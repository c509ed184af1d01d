"""Every ingestion path's parse function is total: generated nested, NUL-laden, surrogate-laden and out-of-range
messages either parse into a valid value or are refused with the path's own rejection, never another exception.

Paths: payment results (JSON and form), ingest requests, decrypted Data through issuance `validate` and redemption
`command_from`, and domain events. Any exception other than the expected rejection fails the test by itself.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.issuance.domain.request import DATE_AHEAD, DATE_BEHIND, IssueOrder, validate
from services.issuance.domain.request import Invalid as IssueInvalid
from services.payment_confirmation.domain.aio_fields import ascii_amount
from services.payment_confirmation.domain.assessment import (
    MAX_TRADE_AMT,
    PAYMENT_DATE_AHEAD,
    PAYMENT_DATE_BEHIND,
    Refused,
    assess,
)
from services.payment_confirmation.inbound import MAX_FIELD_CHARS, PaymentResult, parse_payment_result
from services.redemption.domain import Refund, WriteOff
from services.redemption.inbound import Invalid as RedemptionInvalid
from services.redemption.inbound import RequestedBy, command_from
from shared import bounded_json
from shared.admin.seed import TEST_MERCHANT
from shared.clock import TAIPEI
from shared.contracts.envelope import EventEnvelope
from shared.contracts.ingest import IngestRequest
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.aio import aio_check_mac_value
from shared.ecticket.envelope import EnvelopeFailure
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.intake import parse_ingest_request
from shared.infra.messages import Unparseable, parse_event
from shared.sandbox.aio import AIO_IV, AIO_KEY, payment_result
from shared.settings import DEV_CODE_KEY
from tests.support.edge import CATALOGUE, NOW, TODAY, opened, record, seeded_merchant

CODE_KEY = CodeKey.from_hex(DEV_CODE_KEY)


pytestmark = pytest.mark.unit

MERCHANT = seeded_merchant()
ALNUM = re.compile(r"[A-Za-z0-9]+")
FORBIDDEN = re.compile("[\x00\ud800-\udfff]")
CONTROL = re.compile("[\x00-\x1f\x7f]")
EXAMPLES = settings(max_examples=150, deadline=None)

# --- Generators ------------------------------------------------------------------------------------------------

# Characters that broke something once, or that a lax parser reads as something else.
NASTY = ["\x00", "\ud800", "\udbff", "\udc00", "\x07", "\x7f", "²", "٥", "５", "[", "{", "]", '"', "\\", " ", "_", "+"]
text = st.text(st.sampled_from(NASTY) | st.characters(), max_size=12) | st.sampled_from(
    ["", "3085676", "GF000030", "PU000500", "1", "2", "true", "99991231", "20270101", "9999/12/31 23:59:59"]
)
numbers = st.integers(-(2**40), 2**40) | st.sampled_from([2**31, 2**63, 10**30, -1, 0]) | st.floats()
scalars = st.none() | st.booleans() | numbers | text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3)
)


@dataclass(frozen=True)
class Nested:
    """`value` inside `depth` arrays, written without recursion (json.dumps would hit its own limit first)."""

    value: Any
    depth: int


def to_json(value: Any) -> str:
    """ASCII JSON; lone surrogates come out as \\udXXX escapes, NaN as NaN, and Nested as deep brackets."""
    if isinstance(value, Nested):
        return "[" * value.depth + to_json(value.value) + "]" * value.depth
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    return json.dumps(value)


def usually(valid: st.SearchStrategy[Any], hostile: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a valid value, so that generated messages get past the first check and reach the later ones (and
    shrink towards valid ones). The valid values vary: hypothesis does not generate the same choices twice, and
    one_of() of a repeated strategy is no heavier than one_of() of it once."""
    return st.integers(0, 3).flatmap(lambda pick: hostile if pick == 3 else valid)


def codes(length: int) -> st.SearchStrategy[str]:
    return st.from_regex(rf"[A-Za-z0-9]{{1,{length}}}", fullmatch=True)


merchant_ids = st.from_regex(r"[0-9]{7}", fullmatch=True)
words = st.from_regex(r"[a-z][a-z0-9 ]{0,9}", fullmatch=True)


def deeply(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Sometimes the value buried 1-1,500 levels deep, the 1,200-level payment included."""
    buried = st.builds(Nested, values, st.integers(1, 1500))
    return st.integers(0, 4).flatmap(lambda pick: buried if pick == 4 else values)


def clean(value: str) -> bool:
    return FORBIDDEN.search(value) is None


# --- Payment results -------------------------------------------------------------------------------------------

# AIO times are Taipei wall clock; these lie within the window around NOW.
recent_times = st.integers(-365 * 86400, 86400).map(
    lambda seconds: (NOW + timedelta(seconds=seconds)).astimezone(TAIPEI).strftime("%Y/%m/%d %H:%M:%S")
)
aio_dates = st.sampled_from(["9999/12/31 23:59:59", "0001/01/01 00:00:00", "2026/02/30 10:00:00", "2026/1/5 1:2:3"])
payment_fields = st.fixed_dictionaries(
    {
        "MerchantID": usually(merchant_ids, text),
        "MerchantTradeNo": usually(codes(20), text),
        "TradeAmt": usually(
            st.integers(1, 10**9) | st.integers(1, 10**9).map(str),
            st.sampled_from(["+500", " 500", "5_00", "٥٠٠", "５００", "²", "99999999999"]) | scalars,
        ),
        "PaymentDate": usually(recent_times, aio_dates | scalars),
        "RtnCode": usually(st.sampled_from(["1", "10100058"]), st.sampled_from([1, True])),
        "TradeNo": usually(codes(20), text),
        "PaymentType": usually(st.just("Credit_CreditCard"), text),
    },
)
# The keys of issue 8: `\u0000`, and `\ud800` with a value that is not a string.
hostile_keys = st.dictionaries(st.sampled_from(["\x00", "\ud800", "\udfff", "ok"]), deeply(json_values), max_size=2)


def signed(fields: dict[str, Any]) -> dict[str, Any]:
    """Signed with the merchant's payment keys when the fields can be (so assess gets past the checksum)."""
    try:
        mac = aio_check_mac_value({name: str(value) for name, value in fields.items()}, AIO_KEY, AIO_IV)
    except UnicodeEncodeError:  # a lone surrogate cannot be signed; the parser refuses it anyway
        return fields
    return fields | {"CheckMacValue": mac}


payments = usually(
    payment_fields.map(signed), st.builds(lambda fields, extra: fields | extra, payment_fields, hostile_keys)
)


def check_payment(raw: bytes) -> None:
    try:
        parsed = parse_payment_result(record(raw, "ecticket.ingest.payments.v1"))
    except Unparseable as exc:
        assert str(exc)
        event("payment: unparseable")
        return
    fields = parsed.body.fields
    assert isinstance(parsed.body, PaymentResult)
    assert ALNUM.fullmatch(fields["MerchantID"]) and ALNUM.fullmatch(fields["MerchantTradeNo"])
    assert all(isinstance(v, str) and clean(k) and clean(v) and len(v) <= MAX_FIELD_CHARS for k, v in fields.items())
    decision = assess(fields, MERCHANT, NOW)
    amount = ascii_amount(fields.get("TradeAmt", ""))
    assert amount is None or (fields["TradeAmt"].isascii() and fields["TradeAmt"].isdigit())
    event(f"payment: {decision.reason.value if isinstance(decision, Refused) else 'confirmed'}")
    if isinstance(decision, PaymentConfirmed):
        assert 0 < decision.amount <= MAX_TRADE_AMT
        assert NOW - PAYMENT_DATE_BEHIND <= decision.payment_date <= NOW + PAYMENT_DATE_AHEAD
    else:
        assert isinstance(decision, Refused)


@EXAMPLES
@given(deeply(usually(payments, json_values)))
def test_a_json_payment_result_is_parsed_and_assessed_or_refused(document: Any) -> None:
    check_payment(to_json(document).encode())


def form(fields: dict[str, Any]) -> bytes:
    """Form-encoded as a sender would; a lone surrogate is sent as the bytes UTF-8 would give it (invalid)."""

    def encode(value: object) -> str:
        return quote_from_bytes(str(value).encode("utf-8", "surrogatepass"))

    return "&".join(f"{encode(name)}={encode(value)}" for name, value in fields.items()).encode()


@EXAMPLES
@given(usually(payments.map(form), st.binary(max_size=60)))
def test_a_form_payment_result_is_parsed_or_refused(body: bytes) -> None:
    check_payment(body)


@EXAMPLES
@given(
    st.sampled_from(["+500", " 500", "5_00", "٥٠٠", "５００", "²", "500", "0", "99999999999"]),
    aio_dates | st.just("2026/11/26 11:00:00"),
)
def test_a_signed_payment_with_a_loose_amount_or_a_far_date_is_refused(amount: str, when: str) -> None:
    fields = payment_result(TEST_MERCHANT, "O1", 500, paid_at=NOW) | {"TradeAmt": amount, "PaymentDate": when}
    fields["CheckMacValue"] = aio_check_mac_value(fields, AIO_KEY, AIO_IV)  # signed: the checksum does not help
    check_payment(json.dumps(fields).encode())
    confirmed = isinstance(assess(fields, MERCHANT, NOW), PaymentConfirmed)
    assert confirmed == (amount == "500" and when == "2026/11/26 11:00:00")


# --- Ingest requests -------------------------------------------------------------------------------------------

envelopes = st.fixed_dictionaries(
    {"MerchantID": usually(merchant_ids, deeply(scalars))},
    optional={"PlatformID": scalars, "RqHeader": deeply(json_values), "Data": text, "CheckMacValue": text},
)
ingest_requests = st.fixed_dictionaries(
    {
        "request_id": usually(st.from_regex(r"[!-~]{1,64}", fullmatch=True), scalars),
        "operation": usually(st.sampled_from(["Issue", "WriteOff", "Refund"]), scalars),
        "envelope": usually(envelopes, deeply(json_values)),
    },
)
ingest_messages = st.one_of(
    deeply(usually(ingest_requests, json_values)).map(lambda document: to_json(document).encode()),
    st.binary(max_size=80),
)


@EXAMPLES
@given(ingest_messages)
def test_an_ingest_request_is_parsed_with_an_addressable_merchant_or_refused(raw: bytes) -> None:
    try:
        parsed = parse_ingest_request(record(raw, "ecticket.ingest.requests.v1"))
    except Unparseable as exc:
        assert str(exc)
        event(f"ingest: unparseable {str(exc)[:50]}")
        return
    event("ingest: parsed")
    request = parsed.body
    assert isinstance(request, IngestRequest)
    assert request.request_id.isascii() and request.request_id.isprintable() and " " not in request.request_id
    assert ALNUM.fullmatch(request.envelope["MerchantID"])


# --- Decrypted Data through issuance and redemption ------------------------------------------------------------

yyyymmdd = st.sampled_from(["99991231", "00000000", "00010101", "20261301", "２０２７０１０１", "20270101"]) | st.dates(
    date(1, 1, 1), date(9999, 12, 31)
).map(lambda d: d.strftime("%Y%m%d").zfill(8))
counts = st.sampled_from([True, False, "2", 2.0, 0, 1, 1000, 1001, 2**31, -1]) | deeply(scalars)
usage_days = st.dates(TODAY, date(2036, 11, 1)).map(lambda d: d.strftime("%Y%m%d"))
ticket_lines = st.fixed_dictionaries(
    {"ItemNo": usually(st.sampled_from(sorted(CATALOGUE)), text), "TicketAmount": usually(st.integers(1, 9), counts)},
    optional={
        "ItemName": text,
        "TicketPrice": counts,
        "StartDate": usually(usage_days, yyyymmdd | scalars),
        "ExpireDate": usually(usage_days, yyyymmdd | scalars),
    },
)
order_numbers = st.one_of(
    st.fixed_dictionaries({"FreeTradeNo": usually(codes(20), st.sampled_from(["F\x00", "F" * 3000]) | text)}),
    st.fixed_dictionaries({"FreeTradeNo": usually(codes(20), text)}),
    st.fixed_dictionaries({"MerchantTradeNo": usually(codes(25), text)}),
    st.fixed_dictionaries({"MerchantTradeNo": text, "FreeTradeNo": text}),
)
issue_fields = st.fixed_dictionaries(
    {
        "MerchantID": usually(st.just(TEST_MERCHANT), text),
        "IssueType": usually(st.sampled_from(["1", "2", "3", "4"]), st.sampled_from([3, "5"]) | text),
        "TicketInfo": usually(st.lists(ticket_lines, min_size=1, max_size=3), deeply(json_values)),
    },
    optional={"Operator": usually(words, text)},
)
issue_data = st.builds(lambda fields, number: fields | number, issue_fields, order_numbers)
redemption_data = st.fixed_dictionaries(
    {
        "Action": usually(st.sampled_from(["1", "2", 1, 2]), st.sampled_from([True, 2**70]) | scalars),
        "Operator": usually(words, text),
    },
    optional={
        "WriteOffNo": usually(codes(18), st.sampled_from(["W" * 3000, "WO\x01", ""]) | text),
        "TicketNo": usually(codes(16), text),
        "StoreID": text,
        "CancelReason": text,
    },
)


def check_issue(data: dict[str, Any]) -> None:
    order = validate(data, CATALOGUE.get, TODAY)
    event(f"issue: {order.code.name if isinstance(order, IssueInvalid) else 'accepted'}")
    if isinstance(order, IssueInvalid):
        assert isinstance(order.code, RtnCode) and order.detail.encode("utf-8")  # the reply can carry it
        return
    assert isinstance(order, IssueOrder) and ALNUM.fullmatch(order.trade_no) and 0 < order.ticket_count <= 1000
    assert order.pickup_total < 2**31
    for line in order.lines:
        assert type(line.amount) is int and type(line.face_value) is int
        for day in (line.start_date, line.expire_date):
            assert day is None or TODAY - DATE_BEHIND <= day <= TODAY + DATE_AHEAD


def check_redemption(operation: str, data: dict[str, Any]) -> None:
    command = command_from(operation, data, RequestedBy("R1", TEST_MERCHANT, None), CODE_KEY)
    event(f"{operation}: {type(command).__name__}")
    if isinstance(command, RedemptionInvalid):
        assert command.detail.encode("utf-8")
        assert all(code is None or ALNUM.fullmatch(code) for code in (command.ticket_no, command.write_off_hash))
        return
    assert isinstance(command, WriteOff | Refund)
    codes = (command.write_off_no,) if isinstance(command, WriteOff) else (command.ticket_no, command.write_off_hash)
    assert all(code is None or (ALNUM.fullmatch(code) and len(code) <= 32) for code in codes)
    assert CONTROL.search(command.operator) is None and clean(command.operator)


@EXAMPLES
@given(deeply(usually(issue_data | redemption_data, json_values)))
def test_decrypted_data_is_opened_then_validated_or_refused_with_a_validation_code(document: Any) -> None:
    result = opened(to_json(document))
    if isinstance(result, EnvelopeFailure):
        assert result.message.encode("utf-8")
        event(f"data: {result.reason.value}")
        return
    data = result.data
    assert isinstance(data, dict)
    check_issue(data)
    check_redemption("WriteOff", data)
    check_redemption("Refund", data)


@EXAMPLES
@given(issue_data, redemption_data)
def test_the_pure_validators_refuse_nul_and_surrogates_handed_to_them_directly(
    issue: dict[str, Any], redemption: dict[str, Any]
) -> None:
    check_issue(issue)  # no parser in front: the validators alone must still never raise
    check_redemption("WriteOff", redemption)
    check_redemption("Refund", redemption)


# --- Domain events ---------------------------------------------------------------------------------------------


@EXAMPLES
@given(deeply(json_values), st.sampled_from(["", "\x00", "\\u0000", "\ud800"]))
def test_a_domain_event_is_parsed_or_refused(payload: Any, key: str) -> None:
    head = EventEnvelope(
        event_id=uuid.uuid4(), event_type="X", occurred_at=NOW, producer="p", key="k", correlation_id="c", payload={}
    ).to_bytes()[: -len(b'"payload":{}}')]
    raw = head + b'"payload":{' + json.dumps(key).encode() + b":" + to_json(payload).encode() + b"}}"
    try:
        parsed = parse_event(record(raw, "t"))
    except Unparseable as exc:
        assert str(exc)
        event("event: unparseable")
        return
    event("event: parsed")
    assert isinstance(parsed.body, EventEnvelope)
    assert "\x00" not in json.dumps(parsed.body.payload, ensure_ascii=False)


# --- The parser's depth count matches the real depth ----------------------------------------------------------

# Only what breaks no other rule, so that depth is the one thing that can refuse a value: brackets, quotes and
# backslashes in strings are the cases the depth count must see through.
plain_text = st.text(st.sampled_from([*'[]{}"\\ ab\n', "\u4ea4", "\U0001f600"]), max_size=8)
plain_values = st.recursive(
    st.none() | st.booleans() | st.integers() | plain_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(plain_text, inner, max_size=3),
)


def depth_of(value: Any) -> int:
    """Reference: nesting depth of a parsed value (recursion is fine here, the values are small)."""
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0


@settings(max_examples=300, deadline=None)
@given(plain_values, st.booleans())
def test_bounded_json_refuses_exactly_the_values_nested_deeper_than_its_limit(value: Any, escaped: bool) -> None:
    raw = json.dumps(value, ensure_ascii=escaped)
    for limit in (1, 2, 3):
        try:
            parsed = bounded_json.loads(raw.encode(), max_depth=limit)
        except bounded_json.Rejected as exc:
            assert "nested deeper" in str(exc) and depth_of(value) > limit
        else:
            assert parsed == value and depth_of(value) <= limit
