"""The pure payment decision: only a verified, successful, one-time credit-card payment is confirmed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.payment_confirmation.domain.aio_fields import parse_aio_time
from services.payment_confirmation.domain.assessment import Refused, assess
from services.payment_confirmation.domain.repeats import Known, is_same_payment
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


def test_the_same_payment_redelivered_is_recognised_and_a_different_one_is_not() -> None:
    confirmed = assess(
        payment_result(TEST_MERCHANT, "O", 100, paid_at=PAID_AT, ecpay_trade_no="T1"), merchant(), PAID_AT
    )
    assert isinstance(confirmed, PaymentConfirmed)
    assert is_same_payment(Known("T1", 100), confirmed)
    assert not is_same_payment(Known("T2", 100), confirmed)
    assert not is_same_payment(Known("T1", 99), confirmed)
