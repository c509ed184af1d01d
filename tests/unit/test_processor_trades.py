"""The processor simulator's pure core: what a checkout may say, the result it signs, the rows it answers."""

from __future__ import annotations

import csv
from datetime import UTC, datetime

import pytest

from deploy.simulators.processor.trades import (
    MAX_CHECKOUTS,
    Invalid,
    Order,
    Trade,
    parse_after,
    parse_checkouts,
    parse_day,
    parse_orders,
    query_row,
    recon_csv,
    result_fields,
)
from shared.clock import TAIPEI
from shared.ecticket.aio import verify_aio_check_mac_value
from shared.sandbox.aio import AIO_IV, AIO_KEY

pytestmark = pytest.mark.unit

PAID = datetime(2026, 3, 4, 5, 6, 7, tzinfo=TAIPEI)
CAPTURED = datetime(2026, 3, 4, 0, 0, 1, tzinfo=UTC)


def trade(**changes: object) -> Trade:
    fields: dict[str, object] = dict(
        trade_no="26030400000000000042", merchant_id="3085676", merchant_trade_no="O1", attempt=1, amount=500,
        payment_type="Credit_CreditCard", payment_date=PAID, trade_date=PAID, captured_at=CAPTURED, capture_seq=7,
    )  # fmt: skip
    return Trade(**(fields | changes))  # type: ignore[arg-type]


def test_a_checkout_takes_the_documented_defaults() -> None:
    [checkout], many = parse_checkouts({"MerchantID": "3085676", "MerchantTradeNo": "O1", "TotalAmount": 500})
    assert not many
    assert (checkout.capture, checkout.deliver, checkout.again) == (True, True, False)
    assert (checkout.payment_type, checkout.payment_date) == ("Credit_CreditCard", None)


def test_a_bulk_checkout_keeps_its_order_and_says_it_was_an_array() -> None:
    body = [
        {"MerchantID": "3085676", "MerchantTradeNo": f"O{i}", "TotalAmount": 500, "Deliver": False} for i in range(3)
    ]
    checkouts, many = parse_checkouts(body)
    assert many and [c.merchant_trade_no for c in checkouts] == ["O0", "O1", "O2"]
    assert not any(c.deliver for c in checkouts)


def test_a_payment_date_is_read_in_taipei_time() -> None:
    [checkout], _ = parse_checkouts(
        {"MerchantID": "3085676", "MerchantTradeNo": "O1", "TotalAmount": 1, "PaymentDate": "2026/03/04 05:06:07"}
    )
    assert checkout.payment_date == PAID


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"TotalAmount": True}, "TotalAmount"),
        ({"TotalAmount": 0}, "TotalAmount"),
        ({"TotalAmount": 1.5}, "TotalAmount"),
        ({"MerchantTradeNo": "O-1"}, "MerchantTradeNo"),
        ({"MerchantID": "12345678901"}, "MerchantID"),
        ({"Capture": 1}, "Capture"),
        ({"Again": "true"}, "Again"),
        ({"PaymentDate": "2026-03-04T05:06:07"}, "PaymentDate"),
        ({"PaymentType": "Credit CreditCard"}, "PaymentType"),
    ],
)
def test_a_checkout_with_a_wrong_field_is_refused_naming_it(change: dict[str, object], says: str) -> None:
    body = {"MerchantID": "3085676", "MerchantTradeNo": "O1", "TotalAmount": 500} | change
    with pytest.raises(Invalid, match=says):
        parse_checkouts([{"MerchantID": "3085676", "MerchantTradeNo": "O0", "TotalAmount": 1}, body])


def test_an_empty_or_oversized_bulk_is_refused() -> None:
    with pytest.raises(Invalid):
        parse_checkouts([])
    with pytest.raises(Invalid, match="exceed"):
        parse_checkouts([{}] * (MAX_CHECKOUTS + 1))


def test_a_query_asks_about_each_order_once_and_at_most_the_limit() -> None:
    asked = [{"MerchantID": "3085676", "MerchantTradeNo": n} for n in ("A", "B", "A")]
    assert parse_orders(asked, 3) == [Order("3085676", "A"), Order("3085676", "B")]
    with pytest.raises(Invalid, match="exceed"):
        parse_orders(asked, 2)
    with pytest.raises(Invalid):
        parse_orders({"MerchantID": "3085676"}, 3)


def test_the_result_is_the_trade_signed_with_the_merchants_keys() -> None:
    fields = result_fields(trade(), AIO_KEY, AIO_IV)
    assert verify_aio_check_mac_value(fields, AIO_KEY, AIO_IV)
    assert not verify_aio_check_mac_value(fields, "x" * 16, "y" * 16)
    assert (fields["TradeNo"], fields["TradeAmt"], fields["PaymentDate"], fields["RtnCode"]) == (
        "26030400000000000042", "500", "2026/03/04 05:06:07", "1",
    )  # fmt: skip
    assert result_fields(trade(), AIO_KEY, AIO_IV) == fields  # the same bytes every time it is asked


def test_a_trade_answers_status_1_once_captured_and_0_before() -> None:
    assert query_row(trade())["TradeStatus"] == "1"
    row = query_row(trade(captured_at=None, capture_seq=None))
    assert row == {
        "MerchantID": "3085676", "MerchantTradeNo": "O1", "TradeNo": "26030400000000000042", "TradeAmt": 500,
        "TradeStatus": "0", "PaymentType": "Credit_CreditCard", "PaymentDate": "2026/03/04 05:06:07",
        "TradeDate": "2026/03/04 05:06:07",
    }  # fmt: skip


def test_the_reconciliation_file_has_its_header_and_one_row_per_captured_trade() -> None:
    rows = list(csv.reader(recon_csv([trade(), trade(trade_no="T2", capture_seq=9, amount=800)]).splitlines()))
    assert rows == [
        ["Seq", "MerchantID", "MerchantTradeNo", "TradeNo", "TradeAmt", "PaymentType", "PaymentDate", "CaptureDate"],
        ["7", "3085676", "O1", "26030400000000000042", "500", "Credit_CreditCard", "2026/03/04 05:06:07", "2026/03/04 08:00:01"],
        ["9", "3085676", "O1", "T2", "800", "Credit_CreditCard", "2026/03/04 05:06:07", "2026/03/04 08:00:01"],
    ]  # fmt: skip


@pytest.mark.parametrize("text", ["2026-3-04", "2026-02-30", "today", "2026-03-04x"])
def test_a_recon_day_must_be_a_real_date(text: str) -> None:
    with pytest.raises(Invalid):
        parse_day(text)


def test_after_is_a_whole_number_and_defaults_to_zero() -> None:
    assert (parse_after(None), parse_after("41")) == (0, 41)
    for bad in ("-1", "1.5", "٤١", "9" * 19):
        with pytest.raises(Invalid):
            parse_after(bad)
