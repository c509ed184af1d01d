"""The local checks: only a signed, successful, one-time credit-card result within the date window goes on to be
verified with the processor (tests/unit/test_payment_verification.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.payment_confirmation.domain.aio_fields import parse_aio_time
from services.payment_confirmation.domain.assessment import PAYMENT_DATE_AHEAD, PAYMENT_DATE_BEHIND, Refused, assess
from shared.admin.seed import TEST_MERCHANT, dev_merchants
from shared.contracts.payments import PaymentConfirmed, PaymentRejectReason
from shared.ecticket.aio import aio_check_mac_value
from shared.merchants.model import Merchant, Mode, merchant_parser
from shared.sandbox.aio import AIO_IV, AIO_KEY, payment_result
from shared.settings import DEV_CONFIG_KEY

pytestmark = pytest.mark.unit

PAID_AT = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def merchant(mode: Mode = Mode.SANDBOX) -> Merchant:
    record = next(r for r in dev_merchants(DEV_CONFIG_KEY) if r.merchant_id == TEST_MERCHANT)
    record = record.model_copy(update={"mode": mode})
    return merchant_parser(DEV_CONFIG_KEY)(record.model_dump_json().encode())


def reason(fields: dict[str, str], who: Merchant | None = None) -> PaymentRejectReason:
    decision = assess(fields, who or merchant(), PAID_AT)
    assert isinstance(decision, Refused), decision
    return decision.reason


def test_a_verified_one_time_card_payment_is_confirmed_with_its_amount_and_utc_payment_time() -> None:
    decision = assess(payment_result(TEST_MERCHANT, "ORDER1", 1700, paid_at=PAID_AT), merchant(), PAID_AT)
    assert isinstance(decision, PaymentConfirmed)
    assert (decision.amount, decision.payment_date, decision.simulated) == (1700, PAID_AT, False)


def test_an_unknown_merchant_is_refused() -> None:
    assert assess(payment_result("9999999", "O", 1, paid_at=PAID_AT), None, PAID_AT) == Refused(
        PaymentRejectReason.UNKNOWN_MERCHANT, "MerchantID 9999999 is not registered"
    )


def test_a_tampered_amount_fails_the_checksum() -> None:
    fields = payment_result(TEST_MERCHANT, "ORDER1", 100, paid_at=PAID_AT) | {"TradeAmt": "1"}
    assert reason(fields) is PaymentRejectReason.BAD_CHECKSUM


def test_a_result_signed_with_other_keys_fails_the_checksum() -> None:
    fields = payment_result(TEST_MERCHANT, "ORDER1", 100, paid_at=PAID_AT, key="x" * 16, iv="y" * 16)
    assert reason(fields) is PaymentRejectReason.BAD_CHECKSUM


def test_an_unpaid_result_is_refused() -> None:
    assert reason(payment_result(TEST_MERCHANT, "O", 100, paid_at=PAID_AT, rtn_code="10100058")) is (
        PaymentRejectReason.NOT_PAID
    )


@pytest.mark.parametrize(
    ("payment_type", "extra"),
    [
        ("ATM_LAND", {}),
        ("CVS_CVS", {}),
        ("Credit_CreditCard", {"stage": "3"}),
        ("Credit_CreditCard", {"PeriodType": "M"}),
    ],
)
def test_anything_but_a_one_time_card_payment_is_refused(payment_type: str, extra: dict[str, str]) -> None:
    fields = payment_result(TEST_MERCHANT, "O", 100, paid_at=PAID_AT, payment_type=payment_type, extra=extra)
    assert reason(fields) is PaymentRejectReason.NOT_ONE_TIME_CREDIT_CARD


def test_a_simulated_payment_counts_in_sandbox_only() -> None:
    fields = payment_result(TEST_MERCHANT, "O", 100, paid_at=PAID_AT, simulate=True)
    confirmed = assess(fields, merchant(Mode.SANDBOX), PAID_AT)
    assert isinstance(confirmed, PaymentConfirmed) and confirmed.simulated
    assert reason(fields, merchant(Mode.PRODUCTION)) is PaymentRejectReason.SIMULATED_IN_PRODUCTION


def test_a_non_numeric_amount_is_an_invalid_field() -> None:
    fields = payment_result(TEST_MERCHANT, "O", 100, paid_at=PAID_AT)
    fields["TradeAmt"] = "12.5"
    fields["CheckMacValue"] = aio_check_mac_value(fields, AIO_KEY, AIO_IV)
    assert reason(fields) is PaymentRejectReason.INVALID_FIELDS


def test_aio_times_are_taipei_wall_clock() -> None:
    assert parse_aio_time("2026/11/26 08:00:00") == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)


def test_the_claim_carries_the_merchants_escrow_days_at_the_payment() -> None:
    record = merchant().record.model_copy(update={"escrow_days": 30})
    decision = assess(
        payment_result(TEST_MERCHANT, "O", 100, paid_at=PAID_AT), Merchant(record, merchant().secrets), PAID_AT
    )
    assert isinstance(decision, PaymentConfirmed) and decision.escrow_days == 30


@pytest.mark.parametrize(
    "paid_at",
    [PAID_AT - PAYMENT_DATE_BEHIND - timedelta(seconds=1), PAID_AT + PAYMENT_DATE_AHEAD + timedelta(seconds=1)],
)
def test_a_payment_date_more_than_a_year_back_or_a_day_ahead_is_refused_before_anyone_is_asked(
    paid_at: datetime,
) -> None:
    fields = payment_result(TEST_MERCHANT, "O", 100, paid_at=paid_at)
    assert reason(fields) is PaymentRejectReason.INVALID_FIELDS


def test_a_payment_date_at_the_edges_of_the_window_passes_the_local_checks() -> None:
    for paid_at in (PAID_AT - PAYMENT_DATE_BEHIND + timedelta(seconds=1), PAID_AT + PAYMENT_DATE_AHEAD):
        fields = payment_result(TEST_MERCHANT, "O", 100, paid_at=paid_at)
        assert isinstance(assess(fields, merchant(), PAID_AT), PaymentConfirmed)
