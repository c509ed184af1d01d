"""ECPay AIO payment-result CheckMacValue and form parsing (spec Appendix A)."""

from __future__ import annotations

import hashlib
from urllib.parse import urlencode

import pytest

from shared.ecticket.aio import aio_check_mac_value, parse_form_body, verify_aio_check_mac_value

pytestmark = pytest.mark.unit

# Official AIO stage credentials and vector (Appendix A).
AIO_KEY = "pwFHCqoQZGmho4w6"
AIO_IV = "EkRm7iFT261dpevs"
OFFICIAL_FIELDS = {
    "ChoosePayment": "ALL",
    "EncryptType": "1",
    "ItemName": "Apple iphone 15",
    "MerchantID": "3002607",
    "MerchantTradeDate": "2023/03/12 15:30:23",
    "MerchantTradeNo": "ecpay20230312153023",
    "PaymentType": "aio",
    "ReturnURL": "https://www.ecpay.com.tw/receive.php",
    "TotalAmount": "30000",
    "TradeDesc": "促銷方案",
}
OFFICIAL_MAC = "6C51C9E6888DE861FD62FB1DD17029FC742634498FD813DC43D4243B5685B840"


def _sha256_upper(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest().upper()


def test_official_aio_vector_produces_the_documented_checksum() -> None:
    assert aio_check_mac_value(OFFICIAL_FIELDS, AIO_KEY, AIO_IV) == OFFICIAL_MAC


def test_field_order_of_the_input_does_not_matter() -> None:
    reversed_fields = dict(reversed(list(OFFICIAL_FIELDS.items())))
    assert aio_check_mac_value(reversed_fields, AIO_KEY, AIO_IV) == OFFICIAL_MAC


def test_a_check_mac_value_field_in_the_input_is_left_out_of_the_computation() -> None:
    fields = {**OFFICIAL_FIELDS, "CheckMacValue": "anything"}
    assert aio_check_mac_value(fields, AIO_KEY, AIO_IV) == OFFICIAL_MAC


def test_fields_are_sorted_case_insensitively_not_by_code_point() -> None:
    # By code point "B" would sort before "a".
    expected = _sha256_upper("hashkey%3dk%26a%3d1%26b%3d2%26hashiv%3di")
    assert aio_check_mac_value({"B": "2", "a": "1"}, "K", "I") == expected


def test_dotnet_safe_characters_are_restored_and_tilde_and_space_stay_encoded() -> None:
    expected = _sha256_upper("hashkey%3dk%26x%3da-b_c.d!e*f(g)h%7ei+j%27%2b%26hashiv%3di")
    assert aio_check_mac_value({"X": "a-b_c.d!e*f(g)h~i j'+"}, "K", "I") == expected


def test_the_official_callback_verifies_with_its_check_mac_value() -> None:
    assert verify_aio_check_mac_value({**OFFICIAL_FIELDS, "CheckMacValue": OFFICIAL_MAC}, AIO_KEY, AIO_IV)


def test_a_lower_case_check_mac_value_also_verifies() -> None:
    fields = {**OFFICIAL_FIELDS, "CheckMacValue": OFFICIAL_MAC.lower()}
    assert verify_aio_check_mac_value(fields, AIO_KEY, AIO_IV)


def test_a_tampered_amount_does_not_verify() -> None:
    fields = {**OFFICIAL_FIELDS, "TotalAmount": "1", "CheckMacValue": OFFICIAL_MAC}
    assert not verify_aio_check_mac_value(fields, AIO_KEY, AIO_IV)


def test_an_added_field_does_not_verify() -> None:
    fields = {**OFFICIAL_FIELDS, "SimulatePaid": "1", "CheckMacValue": OFFICIAL_MAC}
    assert not verify_aio_check_mac_value(fields, AIO_KEY, AIO_IV)


def test_the_wrong_keys_do_not_verify() -> None:
    fields = {**OFFICIAL_FIELDS, "CheckMacValue": OFFICIAL_MAC}
    assert not verify_aio_check_mac_value(fields, "7b53896b742849d3", "37a0ad3c6ffa428b")


@pytest.mark.parametrize("received", [None, "", "É" * 64])
def test_a_missing_or_malformed_check_mac_value_does_not_verify(received: str | None) -> None:
    fields = dict(OFFICIAL_FIELDS)
    if received is not None:
        fields["CheckMacValue"] = received
    assert not verify_aio_check_mac_value(fields, AIO_KEY, AIO_IV)


def test_a_form_encoded_callback_parses_and_verifies() -> None:
    body = urlencode({**OFFICIAL_FIELDS, "CheckMacValue": OFFICIAL_MAC}).encode("ascii")
    fields = parse_form_body(body)
    assert fields["TradeDesc"] == "促銷方案"
    assert fields["MerchantTradeDate"] == "2023/03/12 15:30:23"
    assert verify_aio_check_mac_value(fields, AIO_KEY, AIO_IV)


def test_form_parsing_decodes_plus_and_percent_escapes_and_keeps_blank_values() -> None:
    body = b"RtnMsg=Succeeded+ok%21&CustomField1=&TradeDesc=%E4%BF%83%E9%8A%B7"
    assert parse_form_body(body) == {"RtnMsg": "Succeeded ok!", "CustomField1": "", "TradeDesc": "促銷"}


def test_an_empty_form_body_parses_to_no_fields() -> None:
    assert parse_form_body(b"") == {}


def test_a_repeated_form_field_is_rejected() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        parse_form_body(b"RtnCode=1&TradeAmt=100&RtnCode=0")


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"TradeDesc=\xff", id="raw-invalid-utf8"),
        pytest.param(b"TradeDesc=%FF", id="escaped-invalid-utf8"),
        pytest.param(b"RtnCode=1&garbage", id="pair-without-equals"),
    ],
)
def test_a_malformed_form_body_is_rejected(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_form_body(body)
