"""The verifier's pure decisions: a result is confirmed only when the processor's own record of the trade matches
it; a contradicted one is rejected at once; one the processor has not captured waits, then is given up; a second
genuine trade of a paid order is a duplicate of the one that stands. And an answer counts only when it is signed
with the platform's processor credentials."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.payment_confirmation.domain.repeats import Duplicate, First, OrderPayments, Repeat, place, place_all
from services.payment_confirmation.domain.verification import (
    Confirm,
    ProcessorTrade,
    Reject,
    Retry,
    VerifyPolicy,
    retry_at,
    trades_by_order,
    verify,
)
from services.payment_confirmation.processor import ProcessorUnavailable, read_answer, signed_query
from shared.contracts.payments import PaymentAlertSeverity, PaymentConfirmed, PaymentRejectReason
from shared.ecticket.processor_query import ProcessorCredentials, query_mac, verify_query_mac

pytestmark = pytest.mark.unit

PAID_AT = datetime(2026, 11, 26, 3, 0, 5, tzinfo=UTC)
ARRIVED = PAID_AT + timedelta(seconds=2)
POLICY = VerifyPolicy(give_up=timedelta(hours=1), first_retry=timedelta(seconds=1), longest_retry=timedelta(minutes=5))
PLATFORM = ProcessorCredentials("pRoC3ss0rDevK3y1", "pRoC3ss0rDevIv01")


def claim(trade_no: str = "2611260300001", amount: int = 1700, **changes: object) -> PaymentConfirmed:
    """What a result that passed the local checks claims."""
    fields: dict[str, object] = {
        "merchant_id": "3085676",
        "merchant_trade_no": "ORDER1",
        "trade_no": trade_no,
        "amount": amount,
        "payment_type": "Credit_CreditCard",
        "payment_date": PAID_AT,
        "simulated": False,
        "escrow_days": 90,
    }
    return PaymentConfirmed.model_validate(fields | changes)


def trade(trade_no: str = "2611260300001", amount: int = 1700, status: str = "1", **changes: object) -> ProcessorTrade:
    """The processor's record of a trade of ORDER1."""
    fields: dict[str, object] = {
        "merchant_id": "3085676",
        "merchant_trade_no": "ORDER1",
        "trade_no": trade_no,
        "amount": amount,
        "status": status,
        "payment_type": "Credit_CreditCard",
        "payment_date": PAID_AT,
    }
    return ProcessorTrade(**(fields | changes))  # type: ignore[arg-type]


def verdict(result: PaymentConfirmed, *trades: ProcessorTrade, now: datetime = ARRIVED, attempts: int = 0) -> object:
    return verify(result, trades_by_order(trades), ARRIVED, attempts, now, POLICY)


def rejection(result: PaymentConfirmed, *trades: ProcessorTrade, now: datetime = ARRIVED) -> Reject:
    decided = verdict(result, *trades, now=now)
    assert isinstance(decided, Reject), decided
    return decided


def test_a_result_the_processor_recorded_and_captured_exactly_so_is_confirmed() -> None:
    assert verdict(claim(), trade()) == Confirm()


def test_a_result_among_the_orders_other_trades_is_confirmed_by_its_own() -> None:
    assert verdict(claim(trade_no="T2"), trade("T1"), trade("T2")) == Confirm()


def test_a_forged_trade_no_for_an_order_with_other_trades_is_a_processor_mismatch_and_critical() -> None:
    refused = rejection(claim(trade_no="FORGED1"), trade("T1"))
    assert refused.reason is PaymentRejectReason.PROCESSOR_MISMATCH
    assert refused.severity is PaymentAlertSeverity.CRITICAL
    assert "no TradeNo FORGED1" in refused.message and "T1" in refused.message


def test_an_altered_amount_is_a_processor_mismatch() -> None:
    refused = rejection(claim(amount=17000), trade(amount=1700))
    assert refused.reason is PaymentRejectReason.PROCESSOR_MISMATCH
    assert "TradeAmt 17000 in the result, 1700 at the processor" in refused.message


def test_a_backdated_payment_date_is_a_processor_mismatch() -> None:
    refused = rejection(claim(payment_date=PAID_AT - timedelta(days=200)), trade())
    assert refused.reason is PaymentRejectReason.PROCESSOR_MISMATCH
    # Both dates in the processor's own notation: Taipei wall clock.
    assert "PaymentDate 2026/05/10 11:00:05 in the result, 2026/11/26 11:00:05 at the processor" in refused.message


def test_a_payment_date_one_second_off_is_a_processor_mismatch() -> None:
    refused = rejection(claim(payment_date=PAID_AT + timedelta(seconds=1)), trade())
    assert refused.reason is PaymentRejectReason.PROCESSOR_MISMATCH


def test_a_wrong_payment_type_is_a_processor_mismatch() -> None:
    refused = rejection(claim(), trade(payment_type="ATM_LAND"))
    assert refused.reason is PaymentRejectReason.PROCESSOR_MISMATCH
    assert "PaymentType Credit_CreditCard in the result, ATM_LAND at the processor" in refused.message


def test_a_contradiction_is_rejected_at_once_even_before_the_trade_is_captured() -> None:
    refused = rejection(claim(amount=9999), trade(status="0"))
    assert refused.reason is PaymentRejectReason.PROCESSOR_MISMATCH


def test_a_trade_not_captured_yet_waits_and_is_asked_about_again_a_second_later() -> None:
    assert verdict(claim(), trade(status="0")) == Retry(
        ARRIVED + timedelta(seconds=1), "TradeNo 2611260300001 is not captured (TradeStatus '0')"
    )


def test_a_result_whose_order_the_processor_does_not_know_yet_waits() -> None:
    waits = verdict(claim())
    assert isinstance(waits, Retry) and "no trade for order ORDER1 yet" in waits.note


def test_a_trade_of_another_order_with_the_same_trade_no_does_not_vouch_for_the_result() -> None:
    elsewhere = trade(merchant_trade_no="ORDER2")
    assert isinstance(verdict(claim(), elsewhere), Retry)


def test_a_trade_captured_late_is_confirmed_when_it_appears() -> None:
    later = ARRIVED + timedelta(minutes=10)
    assert isinstance(verdict(claim(), trade(status="0"), now=later, attempts=4), Retry)
    assert verdict(claim(), trade(status="1"), now=later, attempts=5) == Confirm()


def test_a_trade_never_captured_is_rejected_as_not_captured_with_a_warning_once_the_wait_is_over() -> None:
    refused = rejection(claim(), trade(status="0"), now=ARRIVED + POLICY.give_up)
    assert refused.reason is PaymentRejectReason.NOT_CAPTURED
    assert refused.severity is PaymentAlertSeverity.WARNING
    assert "not captured within 3600 s" in refused.message


def test_a_result_nobody_paid_is_rejected_as_not_captured_once_the_wait_is_over() -> None:
    refused = rejection(claim(trade_no="INVENTED"), now=ARRIVED + POLICY.give_up + timedelta(seconds=1))
    assert refused.reason is PaymentRejectReason.NOT_CAPTURED


def test_the_pauses_double_up_to_the_longest_and_the_last_question_is_asked_when_the_wait_ends() -> None:
    pauses = [retry_at(ARRIVED, attempts, ARRIVED, POLICY) - ARRIVED for attempts in range(12)]
    assert pauses[:4] == [timedelta(seconds=s) for s in (1, 2, 4, 8)]
    assert pauses[-1] == timedelta(minutes=5)
    near_the_end = ARRIVED + POLICY.give_up - timedelta(seconds=3)
    assert retry_at(ARRIVED, 10, near_the_end, POLICY) == ARRIVED + POLICY.give_up


def test_the_first_verified_payment_of_an_order_stands_and_the_same_trade_again_changes_nothing() -> None:
    assert place(None, "T1") == First()
    assert place(OrderPayments("T1"), "T1") == Repeat()


def test_a_second_genuine_trade_is_a_duplicate_of_the_one_that_stands_and_once_recorded_a_repeat() -> None:
    assert place(OrderPayments("T1"), "T2") == Duplicate("T1")
    assert place(OrderPayments("T1", frozenset({"T2"})), "T2") == Repeat()


def test_a_double_charge_verified_in_one_batch_stands_once_and_duplicates_once_in_arrival_order() -> None:
    order = ("3085676", "ORDER1")
    batch = [("a", order, "T1"), ("b", order, "T2"), ("c", order, "T1"), ("d", order, "T2"), ("e", order, "T3")]
    assert place_all(batch, {}) == [
        ("a", First()),
        ("b", Duplicate("T1")),
        ("c", Repeat()),
        ("d", Repeat()),
        ("e", Duplicate("T1")),
    ]


def test_orders_are_placed_apart() -> None:
    placed = place_all([("a", ("M", "O1"), "T1"), ("b", ("M", "O2"), "T2")], {("M", "O2"): OrderPayments("T0")})
    assert placed == [("a", First()), ("b", Duplicate("T0"))]


def answer(trades: list[dict[str, object]], credentials: ProcessorCredentials = PLATFORM) -> dict[str, object]:
    document: dict[str, object] = {"TimeStamp": 1764126005, "Trades": trades}
    document["CheckMacValue"] = query_mac(document, *credentials)
    return document


ROW: dict[str, object] = {
    "MerchantID": "3085676",
    "MerchantTradeNo": "ORDER1",
    "TradeNo": "2611260300001",
    "TradeAmt": 1700,
    "TradeStatus": "1",
    "PaymentType": "Credit_CreditCard",
    "PaymentDate": "2026/11/26 11:00:05",
    "TradeDate": "2026/11/26 11:00:00",
}


def test_a_signed_answer_is_read_into_the_processors_trades() -> None:
    assert read_answer(json.dumps(answer([ROW])).encode(), PLATFORM) == [trade()]


def test_an_answer_whose_trade_was_altered_after_signing_is_not_evidence() -> None:
    document = answer([ROW])
    document["Trades"] = [ROW | {"TradeAmt": 17000}]
    with pytest.raises(ProcessorUnavailable, match="CheckMacValue"):
        read_answer(json.dumps(document).encode(), PLATFORM)


def test_an_answer_signed_with_a_merchants_keys_is_not_evidence() -> None:
    merchant_signed = answer([ROW], ProcessorCredentials("7b53896b742849d3", "37a0ad3c6ffa428b"))
    with pytest.raises(ProcessorUnavailable, match="CheckMacValue"):
        read_answer(json.dumps(merchant_signed).encode(), PLATFORM)


@pytest.mark.parametrize(
    "broken",
    [
        ROW | {"TradeAmt": "1700"},
        ROW | {"TradeAmt": True},
        ROW | {"PaymentDate": "2026-11-26T03:00:05Z"},
        {k: v for k, v in ROW.items() if k != "TradeStatus"},
        "not a trade",
    ],
)
def test_a_signed_answer_with_a_malformed_trade_is_not_evidence(broken: object) -> None:
    with pytest.raises(ProcessorUnavailable):
        read_answer(json.dumps(answer([broken])).encode(), PLATFORM)  # type: ignore[list-item]


@pytest.mark.parametrize("body", [b"<html>502</html>", b"[]", b'{"TimeStamp": 1}'])
def test_an_answer_that_is_not_a_signed_object_is_not_evidence(body: bytes) -> None:
    with pytest.raises(ProcessorUnavailable):
        read_answer(body, PLATFORM)


def test_the_query_is_signed_with_the_platforms_credentials_over_its_orders() -> None:
    query = signed_query([("3085676", "ORDER1")], "ECTICKET", 1764126005, PLATFORM)
    assert query["Orders"] == [{"MerchantID": "3085676", "MerchantTradeNo": "ORDER1"}]
    assert verify_query_mac(query, *PLATFORM)
    assert not verify_query_mac(query | {"Orders": [{"MerchantID": "3085676", "MerchantTradeNo": "X"}]}, *PLATFORM)
