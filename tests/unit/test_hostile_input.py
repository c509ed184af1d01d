"""Each hostile message of issue 8 meets its specific rejection at the edge (pure: no Kafka, no Postgres)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.issuance.domain.request import Invalid as IssueInvalid
from services.issuance.domain.request import IssueOrder, validate
from services.payment_confirmation.domain.aio_fields import ascii_amount
from services.payment_confirmation.domain.assessment import Refused, assess
from services.payment_confirmation.inbound import PaymentResult, parse_payment_result
from services.redemption.domain import due_at, tickets_from_issued
from services.redemption.inbound import Invalid as RedemptionInvalid
from services.redemption.inbound import RequestedBy, command_from
from shared import bounded_json
from shared.admin.seed import TEST_MERCHANT
from shared.clock import end_of_business_day, start_of_business_day
from shared.contracts.common import RefundFeeRule, TicketType
from shared.contracts.envelope import EventEnvelope
from shared.contracts.issuance import IssuedTicket, TicketsIssued
from shared.contracts.payments import PaymentConfirmed, PaymentRejectReason
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.aio import aio_check_mac_value
from shared.ecticket.envelope import (
    EnvelopeFailure,
    EnvelopeFailureReason,
)
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.intake import parse_ingest_request
from shared.infra.messages import Unparseable, parse_event
from shared.sandbox.aio import AIO_IV, AIO_KEY, payment_result
from shared.settings import DEV_CODE_KEY
from tests.support.edge import CATALOGUE, NOW, TODAY, opened, record, seeded_merchant

CODE_KEY = CodeKey.from_hex(DEV_CODE_KEY)

pytestmark = pytest.mark.unit


def unparseable(parse: Any, value: bytes, topic: str = "ecticket.ingest.payments.v1") -> str:
    with pytest.raises(Unparseable) as caught:
        parse(record(value, topic))
    return str(caught.value)


def signed(**changes: str) -> dict[str, str]:
    """A genuine payment result with some fields changed and signed again (the checksum does not save us)."""
    fields = payment_result(TEST_MERCHANT, "ORDER1", 500, paid_at=NOW) | changes
    fields.pop("CheckMacValue")
    return fields | {"CheckMacValue": aio_check_mac_value(fields, AIO_KEY, AIO_IV)}


def issue_data(**line: Any) -> dict[str, Any]:
    ticket = {"ItemNo": "GF000030", "TicketAmount": 1} | line
    return {"MerchantID": TEST_MERCHANT, "FreeTradeNo": "F1", "IssueType": "3", "TicketInfo": [ticket]}


# --- Total parsing at the edge ---------------------------------------------------------------------------------


def test_a_payment_result_nested_1200_levels_deep_is_unparseable_instead_of_a_recursion_error() -> None:
    body = b'{"MerchantID":"3085676","MerchantTradeNo":"O1","x":' + b"[" * 1200 + b"]" * 1200 + b"}"
    assert "nested deeper than 1 levels" in unparseable(parse_payment_result, body)


def test_the_ingest_request_with_a_nul_merchant_id_is_unparseable_so_no_reply_is_ever_keyed_by_it() -> None:
    body = b'{"request_id":"x","operation":"Issue","envelope":{"MerchantID":"\\u0000"}}'  # as in the issue
    assert "contains NUL" in unparseable(parse_ingest_request, body, "ecticket.ingest.requests.v1")


@pytest.mark.parametrize("merchant_id", ["\x01", "3085676 ", "30856760000", "", 3085676, None, "商店"])
def test_an_ingest_request_whose_merchant_id_cannot_address_a_reply_is_unparseable(merchant_id: object) -> None:
    body = json.dumps({"request_id": "R1", "operation": "Issue", "envelope": {"MerchantID": merchant_id}}).encode()
    assert "no reply can be sent" in unparseable(parse_ingest_request, body, "ecticket.ingest.requests.v1")


@pytest.mark.parametrize("request_id", ["R\u0000", "R 1", "é", "R" * 65, ""])
def test_an_ingest_request_whose_request_id_is_not_visible_ascii_is_unparseable(request_id: str) -> None:
    body = json.dumps({"request_id": request_id, "operation": "Issue", "envelope": {"MerchantID": "1"}}).encode()
    assert unparseable(parse_ingest_request, body, "ecticket.ingest.requests.v1")


def test_a_payment_whose_json_key_is_nul_is_unparseable() -> None:
    body = b'{"MerchantID":"3085676","MerchantTradeNo":"O1","\\u0000":"x"}'
    assert "a key contains NUL" in unparseable(parse_payment_result, body)


def test_a_payment_whose_key_is_a_lone_surrogate_with_a_non_string_value_is_unparseable() -> None:
    flat = b'{"MerchantID":"3085676","MerchantTradeNo":"O1","\\ud800":7}'
    assert "a key contains NUL or an unpaired surrogate" in unparseable(parse_payment_result, flat)
    nested = b'{"MerchantID":"3085676","MerchantTradeNo":"O1","\\ud800":{"a":1}}'
    assert "nested deeper than 1 levels" in unparseable(parse_payment_result, nested)


def test_a_form_encoded_payment_with_a_nul_value_is_unparseable() -> None:
    assert "contains NUL" in unparseable(parse_payment_result, b"MerchantID=3085676&MerchantTradeNo=O1&RtnMsg=%00")


def test_a_payment_whose_merchant_trade_no_is_too_long_for_an_index_row_is_unparseable() -> None:
    body = json.dumps({"MerchantID": "3085676", "MerchantTradeNo": "A" * 900}).encode()
    assert "MerchantTradeNo" in unparseable(parse_payment_result, body)


def test_a_payment_with_an_integer_amount_is_read_as_its_digits_but_true_is_not_an_amount() -> None:
    parsed = parse_payment_result(record(b'{"MerchantID":"3085676","MerchantTradeNo":"O1","TradeAmt":500}'))
    assert isinstance(parsed.body, PaymentResult) and parsed.body.fields["TradeAmt"] == "500"
    assert "must be a string or an integer" in unparseable(
        parse_payment_result, b'{"MerchantID":"3085676","MerchantTradeNo":"O1","TradeAmt":true}'
    )


def test_decrypted_data_whose_key_is_nul_is_a_data_failure_the_caller_is_answered_with() -> None:
    failure = opened('{"MerchantID":"3085676","\\u0000":1}')
    assert isinstance(failure, EnvelopeFailure) and failure.reason is EnvelopeFailureReason.DATA_NOT_JSON
    assert "contains NUL" in failure.message


def test_decrypted_data_with_a_nul_free_trade_no_is_a_data_failure() -> None:
    failure = opened('{"MerchantID":"3085676","FreeTradeNo":"F\\u0000","IssueType":"3","TicketInfo":[]}')
    assert isinstance(failure, EnvelopeFailure) and failure.reason is EnvelopeFailureReason.DATA_NOT_JSON


def test_decrypted_data_nested_1200_levels_deep_is_a_data_failure() -> None:
    failure = opened('{"MerchantID":"3085676","x":' + "[" * 1200 + "]" * 1200 + "}")
    assert isinstance(failure, EnvelopeFailure) and "nested deeper" in failure.message


def test_decrypted_data_with_a_repeated_key_or_nan_is_a_data_failure() -> None:
    for text in ('{"MerchantID":"1","MerchantID":"2"}', '{"MerchantID":NaN}', '{"a":1e999}'):
        assert isinstance(opened(text), EnvelopeFailure), text


def test_a_domain_event_carrying_a_nul_escape_is_unparseable_but_an_escaped_backslash_before_u0000_is_text() -> None:
    envelope = EventEnvelope(
        event_id=uuid.uuid4(), event_type="X", occurred_at=NOW, producer="p", key="k", correlation_id="c",
        payload={"item_name": "\\u0000"},
    )  # fmt: skip
    assert parse_event(record(envelope.to_bytes(), "t")).body == envelope
    hostile = envelope.to_bytes().replace(b'"\\\\u0000"', b'"\\u0000"')
    assert "contains NUL" in unparseable(parse_event, hostile, "t")


def test_a_domain_event_nested_1200_levels_deep_is_unparseable() -> None:
    raw = (
        b'{"event_id":"' + str(uuid.uuid4()).encode() + b'","event_type":"X","occurred_at":"2026-01-01T00:00:00Z",'
        b'"producer":"p","key":"k","correlation_id":"c","payload":{"a":' + b"[" * 1200 + b"]" * 1200 + b"}}"
    )
    assert "recursion limit" in unparseable(parse_event, raw, "t")


# --- Loose parsing of signed input ---------------------------------------------------------------------------


def test_ticket_amount_true_is_invalid_data_not_one_ticket() -> None:
    refused = validate(issue_data(TicketAmount=True), CATALOGUE.get, TODAY)
    assert isinstance(refused, IssueInvalid) and refused.code is RtnCode.DATA_INVALID
    assert "TicketAmount" in refused.detail


@pytest.mark.parametrize("amount", ["2", 2.0, "²"])
def test_ticket_amount_must_be_a_json_integer(amount: object) -> None:
    refused = validate(issue_data(TicketAmount=amount), CATALOGUE.get, TODAY)
    assert isinstance(refused, IssueInvalid) and refused.code is RtnCode.DATA_INVALID


def test_a_ticket_price_beyond_int32_is_invalid_data() -> None:
    data = issue_data(ItemNo=None, ItemName="Gala", TicketPrice=2**31, TicketAmount=1) | {"IssueType": "4"}
    refused = validate(data, CATALOGUE.get, TODAY)
    assert isinstance(refused, IssueInvalid) and refused.code is RtnCode.DATA_INVALID


@pytest.mark.parametrize("trade_amt", ["+500", " 500", "5_00", "٥٠٠", "５００", "500 ", "0500.0", "-500", "²"])
def test_a_signed_trade_amt_that_is_not_ascii_digits_is_refused_as_invalid_fields(trade_amt: str) -> None:
    decision = assess(signed(TradeAmt=trade_amt), seeded_merchant(), NOW)
    assert isinstance(decision, Refused) and decision.reason is PaymentRejectReason.INVALID_FIELDS


def test_a_signed_trade_amt_beyond_int32_is_refused_as_invalid_fields() -> None:
    decision = assess(signed(TradeAmt="99999999999"), seeded_merchant(), NOW)
    assert isinstance(decision, Refused) and decision.reason is PaymentRejectReason.INVALID_FIELDS


def test_the_rejected_payment_amount_of_a_superscript_two_is_none_instead_of_a_crash() -> None:
    assert [ascii_amount(text) for text in ("²", "٥", "+5", "", "12", "12345678901")] == [
        None, None, None, None, 12, None,
    ]  # fmt: skip


def test_write_off_codes_and_operators_must_be_plain() -> None:
    caller = RequestedBy("R1", TEST_MERCHANT, None)
    for data in (
        {"WriteOffNo": "W" * 3000, "Action": "1", "Operator": "p"},  # would not fit a B-tree index row
        {"WriteOffNo": "WO\x01", "Action": "1", "Operator": "p"},
        {"WriteOffNo": "WO1", "Action": True, "Operator": "p"},
        {"WriteOffNo": "WO1", "Action": "1", "Operator": "p\x07"},
    ):
        command = command_from("WriteOff", data, caller, CODE_KEY)
        assert isinstance(command, RedemptionInvalid), data
        assert command.write_off_hash in (None, CODE_KEY.digest("WO1"))  # junk is never repeated in the rejection


# --- Far dates -------------------------------------------------------------------------------------------------


def test_a_gift_expire_date_99991231_is_refused_at_issuance() -> None:
    refused = validate(issue_data(ExpireDate="99991231"), CATALOGUE.get, TODAY)
    assert isinstance(refused, IssueInvalid) and refused.code is RtnCode.TICKET_LINES_INVALID


def test_usage_dates_ten_years_ahead_are_accepted_and_non_ascii_digits_are_not() -> None:
    accepted = validate(issue_data(ExpireDate="20361120"), CATALOGUE.get, TODAY)
    assert isinstance(accepted, IssueOrder) and accepted.lines[0].expire_date == date(2036, 11, 20)
    refused = validate(issue_data(ExpireDate="２０２７０１０１"), CATALOGUE.get, TODAY)
    assert isinstance(refused, IssueInvalid) and refused.code is RtnCode.DATA_INVALID


@pytest.mark.parametrize(
    "when", ["9999/12/31 23:59:59", "0001/01/01 00:00:00", "2026/11/28 03:00:00", "2025/11/01 00:00:00"]
)
def test_a_signed_payment_date_outside_the_window_is_refused_as_invalid_fields(when: str) -> None:
    decision = assess(signed(PaymentDate=when), seeded_merchant(), NOW)
    assert isinstance(decision, Refused) and decision.reason is PaymentRejectReason.INVALID_FIELDS


def test_a_payment_date_within_a_day_ahead_or_a_year_back_is_confirmed() -> None:
    for moment in (NOW + timedelta(hours=23), NOW - timedelta(days=365)):
        fields = signed(PaymentDate=payment_result(TEST_MERCHANT, "O", 1, paid_at=moment)["PaymentDate"])
        assert isinstance(assess(fields, seeded_merchant(), NOW), PaymentConfirmed), moment


def test_a_ticket_that_expires_on_the_last_representable_day_is_scheduled_without_overflow() -> None:
    far = date.max
    ticket = IssuedTicket(
        ticket_no="T1", write_off_hash="H1", write_off_sealed="v1.S1", ticket_type=TicketType.GIFT, item_no="GF000030", item_name="Dessert",
        face_value=0, start_date=None, expire_date=far, refund_fee_rule=RefundFeeRule(),
    )  # fmt: skip
    issued = TicketsIssued(
        merchant_id=TEST_MERCHANT, platform_id=None, ticket_trade_no="F1", merchant_trade_no=None, free_trade_no="F1",
        request_id="R1", issue_type="3", issued_at=NOW, payment=None, escrow_days=None, escrow_expiry_date=None,
        total_face_value=0, tickets=(ticket,),
    )  # fmt: skip
    [redeemable] = tickets_from_issued(issued)
    assert due_at(redeemable) == datetime.max.replace(tzinfo=UTC)
    assert end_of_business_day(far) > end_of_business_day(far - timedelta(days=1))
    assert start_of_business_day(date.min) == datetime.min.replace(tzinfo=UTC)


# --- The parser itself -----------------------------------------------------------------------------------------


def test_bounded_json_refuses_each_rule_with_its_own_message() -> None:
    cases = {
        b"\xff": "not UTF-8",
        b"[1e999]": "out of range",
        b"Infinity": "not JSON",
        b'{"a":1,"a":2}': "duplicate key",
        b'"' + b"x" * 10 + b'"': "exceeds the limit of 5",
        b"[[[[[[]]]]]]": "nested deeper than 5",
        b"1" * 5000: "not JSON",
        b'["\\udc00"]': "unpaired surrogate",
    }
    for raw, message in cases.items():
        with pytest.raises(bounded_json.Rejected, match=message):
            bounded_json.loads(raw, max_depth=5, max_string=5)
    with pytest.raises(bounded_json.Rejected, match="exceed the limit"):
        bounded_json.loads(b"[]", max_bytes=1)


def test_bounded_json_keeps_what_is_fine_brackets_in_strings_escapes_and_paired_surrogates() -> None:
    text = '{"a":"[[[[[[[[","b":"\\\\u0000","c":"\\ud83d\\ude00","d":"\\"]]]]","e":[1,2.5,{"f":null}]}'
    assert bounded_json.loads(text, max_depth=3) == {
        "a": "[[[[[[[[", "b": "\\u0000", "c": "😀", "d": '"]]]]', "e": [1, 2.5, {"f": None}],
    }  # fmt: skip
