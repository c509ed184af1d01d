"""ECTicket URL-encoding, Data encryption, CheckMacValue and envelopes vs. the spec (§2.4-§2.7)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from shared.ecticket import urlencoding
from shared.ecticket.crypto import (
    DataDecryptError,
    check_mac_value,
    decrypt_data,
    encrypt_data,
    seal_data,
    verify_check_mac_value,
)
from shared.ecticket.envelope import (
    EnvelopeFailure,
    EnvelopeFailureReason,
    OpenedData,
    RequestEnvelope,
    RequestHeader,
    open_request,
    open_response,
    seal_request,
    seal_response,
)
from shared.ecticket.urlencoding import (
    js_encode_uri_component,
    lenient_urldecode,
    php_to_js,
    php_to_rfc3986,
    php_urlencode,
    rfc3986_encode,
)

pytestmark = pytest.mark.unit

# Official ECTicket test keys (§2.4, §2.5).
KEY = "7b53896b742849d3"
IV = "37a0ad3c6ffa428b"
# ECPay e-invoice keys, same algorithm (§2.4).
INVOICE_KEY = "ejCk326UnaZWKisg"
INVOICE_IV = "q9jcZX8Ib9LM8wYk"

AES_PLAINTEXT = '{"Name":"Test","ID":"A123456789"}'
AES_URL_ENCODED = "%7B%22Name%22%3A%22Test%22%2C%22ID%22%3A%22A123456789%22%7D"
AES_CIPHERTEXT = "oxmUqzelA4koGRQ+myZggW5qNqlVdytGJadngOuWA7jd1Fakpay72J/w5IXLIINqCYcmx7gLsaednuH54LjffA=="
INVOICE_UPPER_HEX_CIPHERTEXT = (
    "uvI4yrErM37XNQkXGAgRgJAgHn2t72jahaMZzYhWL1HmvH4WV18VJDP2i9pTbC+tby5nxVExLLFyAkbjbS2Dvg=="
)
INVOICE_LOWER_HEX_CIPHERTEXT = (
    "ZD/z07UvdmL3aYz0tsVo+bFXF5VldNcns6ezyfea777KOmLiizrUNDYe+v1bh2QTT4AySf1NICgXxWXB6f7c6A=="
)

MAC_PLAINTEXT = '{"MerchantID":"3085676","MerchantTradeNo":"CX202202221540568521"}'
MAC_URL_ENCODED = (
    "7b53896b742849d3%7B%22MerchantID%22%3A%223085676%22%2C%22MerchantTradeNo%22%3A"
    "%22CX202202221540568521%22%7D37a0ad3c6ffa428b"
)
MAC_LOWER_CASED = (
    "7b53896b742849d3%7b%22merchantid%22%3a%223085676%22%2c%22merchanttradeno%22%3a"
    "%22cx202202221540568521%22%7d37a0ad3c6ffa428b"
)
MAC_VALUE = "CE67BBD259EE38BA1C7FB7CC88C3BD91D3F082B46EAEBD4E4E5F2184CB23349A"
ENVELOPE_DATA = (
    "YRMg3uuqgyQTGt8ZLip/vtwxg8T7lTGKrGIDwyQX318W7HSWqhTeJ88z57fuia5wNiRjLnk2UUs1rv1EQeEViTOzpNj9TOU7wQsB4sCk"
    "+RCXr9VdaYojO5z5oRHmplgl"
)

NOW = 1_700_000_000


def _envelope_for(plaintext: str, *, timestamp: int = NOW, mac: str | None = None) -> RequestEnvelope:
    """An envelope around an arbitrary (possibly non-canonical or non-JSON) plaintext."""
    return RequestEnvelope(
        merchant_id="3085676",
        rq_header=RequestHeader(timestamp=timestamp),
        data=encrypt_data(plaintext, KEY, IV),
        check_mac_value=check_mac_value(plaintext, KEY, IV) if mac is None else mac,
    )


def _raw_aes_base64(payload: bytes) -> str:
    """Encrypt bytes without URL-encoding them, to build ciphertexts our encoder would never produce."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(payload) + padder.finalize()
    encryptor = Cipher(algorithms.AES(KEY.encode()), modes.CBC(IV.encode())).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def _open(envelope: RequestEnvelope) -> OpenedData | EnvelopeFailure:
    return open_request(envelope, KEY, IV, now_unix=NOW)


def _failure_reason(result: OpenedData | EnvelopeFailure) -> EnvelopeFailureReason:
    assert isinstance(result, EnvelopeFailure), result
    assert KEY not in result.message
    assert IV not in result.message
    return result.reason


# --- URL encoding (§2.4, §2.6) ---------------------------------------------------------------------------


def test_php_urlencode_reproduces_the_official_aes_vector_encoding() -> None:
    assert php_urlencode(AES_PLAINTEXT) == AES_URL_ENCODED


def test_php_urlencode_turns_space_into_plus_and_escapes_tilde_with_upper_case_hex() -> None:
    assert php_urlencode("A B~!*'()-_.") == "A+B%7E%21%2A%27%28%29-_."


def test_rfc3986_encoding_uses_percent_20_and_leaves_the_unreserved_set_alone() -> None:
    assert rfc3986_encode("A B~!*'()-_.") == "A%20B~%21%2A%27%28%29-_."


def test_encode_uri_component_also_leaves_the_javascript_marks_alone() -> None:
    assert js_encode_uri_component("A B~!*'()-_.") == "A%20B~!*'()-_."


def test_every_encoder_percent_encodes_utf8_bytes_of_non_ascii_text() -> None:
    for encoder in (php_urlencode, rfc3986_encode, js_encode_uri_component):
        assert encoder("促銷") == "%E4%BF%83%E9%8A%B7"


def test_lenient_decoder_reads_plus_and_percent_20_as_space_in_any_hex_case() -> None:
    assert lenient_urldecode("A+B%20C%7e%7E%2b") == "A B C~~+"


def test_lenient_decoder_keeps_a_malformed_percent_escape_literally() -> None:
    assert lenient_urldecode("100%25%zz%") == "100%%zz%"


def test_lenient_decoder_rejects_bytes_that_are_not_utf8() -> None:
    with pytest.raises(UnicodeDecodeError):
        lenient_urldecode("%FF")


def _spelled_out(text: str, safe: bytes, space: str) -> str:
    """URL-encoding decided byte by byte, the plain way the fast encoders must agree with."""
    alnum = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(chr(b) if b in alnum + safe else space if b == 0x20 else f"%{b:02X}" for b in text.encode("utf-8"))


@given(st.text())
def test_each_encoder_is_the_byte_by_byte_encoding_of_its_flavour(text: str) -> None:
    assert php_urlencode(text) == _spelled_out(text, b"-_.", "+")
    assert rfc3986_encode(text) == _spelled_out(text, b"-_.~", "%20")
    assert js_encode_uri_component(text) == _spelled_out(text, b"-_.!~*'()", "%20")


def test_the_fast_php_encoder_is_in_use_and_refuses_a_lone_surrogate_like_the_plain_one() -> None:
    assert urlencoding._php_urlencode is urlencoding._yarl_php_urlencode  # the installed yarl passed its check
    with pytest.raises(UnicodeEncodeError):
        php_urlencode("a\ud800")
    with pytest.raises(UnicodeEncodeError):
        urlencoding._plain_php_urlencode("a\ud800")


@given(st.text() | st.text(alphabet=" ~!$'()*,%+27EA2189"))
def test_the_fast_php_encoder_agrees_with_the_plain_one(text: str) -> None:
    assert urlencoding._yarl_php_urlencode(text) == urlencoding._plain_php_urlencode(text)


@given(st.text() | st.text(alphabet=" ~!*'()%+27EA2189"))
def test_the_other_flavours_derived_from_php_encoding_are_their_own_encodings(text: str) -> None:
    assert php_to_rfc3986(php_urlencode(text)) == rfc3986_encode(text)
    assert php_to_js(php_urlencode(text)) == js_encode_uri_component(text)


@given(st.text())
def test_every_encoder_round_trips_through_the_lenient_decoder(text: str) -> None:
    for encoder in (php_urlencode, rfc3986_encode, js_encode_uri_component):
        assert lenient_urldecode(encoder(text)) == text


# --- Data encryption (§2.4) ------------------------------------------------------------------------------


@given(st.text(max_size=300))
def test_seal_data_is_encrypt_data_and_check_mac_value_of_the_same_plaintext(text: str) -> None:
    assert seal_data(text, KEY, IV) == (encrypt_data(text, KEY, IV), check_mac_value(text, KEY, IV))


@given(st.text(max_size=300))
def test_encryption_pads_like_the_library_pkcs7_padder(text: str) -> None:
    padder = padding.PKCS7(128).padder()
    padded = padder.update(php_urlencode(text).encode("ascii")) + padder.finalize()
    encryptor = Cipher(algorithms.AES(KEY.encode()), modes.CBC(IV.encode())).encryptor()
    expected = base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")
    assert encrypt_data(text, KEY, IV) == expected


def test_official_aes_vector_encrypts_to_the_documented_ciphertext() -> None:
    assert encrypt_data(AES_PLAINTEXT, KEY, IV) == AES_CIPHERTEXT


def test_official_aes_vector_decrypts_to_the_documented_plaintext() -> None:
    assert decrypt_data(AES_CIPHERTEXT, KEY, IV) == AES_PLAINTEXT


def test_einvoice_upper_case_hex_vector_is_what_encryption_produces() -> None:
    assert encrypt_data(AES_PLAINTEXT, INVOICE_KEY, INVOICE_IV) == INVOICE_UPPER_HEX_CIPHERTEXT


def test_einvoice_upper_and_lower_case_hex_vectors_decrypt_to_the_same_plaintext() -> None:
    assert decrypt_data(INVOICE_UPPER_HEX_CIPHERTEXT, INVOICE_KEY, INVOICE_IV) == AES_PLAINTEXT
    assert decrypt_data(INVOICE_LOWER_HEX_CIPHERTEXT, INVOICE_KEY, INVOICE_IV) == AES_PLAINTEXT


def test_ciphertext_of_a_plus_for_space_client_decrypts_with_the_space() -> None:
    assert decrypt_data(_raw_aes_base64(b"%7B%22a%22%3A%22x+y%20z%22%7D"), KEY, IV) == '{"a":"x y z"}'


@given(st.text())
def test_any_text_survives_an_encrypt_decrypt_round_trip(text: str) -> None:
    assert decrypt_data(encrypt_data(text, KEY, IV), KEY, IV) == text


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("not base64!!", id="bad-base64"),
        pytest.param(AES_CIPHERTEXT[:-4], id="truncated-base64"),
        pytest.param(base64.b64encode(b"15 bytes only..").decode(), id="not-block-aligned"),
        pytest.param("", id="empty"),
        pytest.param(_raw_aes_base64(b"%FF%FE"), id="decodes-to-invalid-utf8"),
    ],
)
def test_malformed_data_raises_data_decrypt_error(data: str) -> None:
    with pytest.raises(DataDecryptError):
        decrypt_data(data, KEY, IV)


def test_decrypting_with_the_wrong_key_raises_a_message_without_any_key() -> None:
    with pytest.raises(DataDecryptError) as excinfo:
        decrypt_data(AES_CIPHERTEXT, INVOICE_KEY, INVOICE_IV)
    for secret in (KEY, IV, INVOICE_KEY, INVOICE_IV):
        assert secret not in str(excinfo.value)


def test_a_hash_key_of_the_wrong_length_is_a_configuration_error_that_does_not_echo_the_key() -> None:
    bad_key = "short-secret-key-x"
    with pytest.raises(ValueError, match="HashKey") as excinfo:
        encrypt_data(AES_PLAINTEXT, bad_key, IV)
    assert not isinstance(excinfo.value, DataDecryptError)
    assert bad_key not in str(excinfo.value)


def test_a_non_ascii_hash_iv_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="HashIV"):
        decrypt_data(AES_CIPHERTEXT, KEY, "37a0ad3c6ffa428é")


# --- CheckMacValue (§2.5, §2.6) --------------------------------------------------------------------------


def test_official_check_mac_value_vector_intermediate_steps_match() -> None:
    concatenated = KEY + MAC_PLAINTEXT + IV
    assert php_urlencode(concatenated) == MAC_URL_ENCODED
    assert php_urlencode(concatenated).lower() == MAC_LOWER_CASED


def test_official_check_mac_value_vector_produces_the_documented_checksum() -> None:
    assert check_mac_value(MAC_PLAINTEXT, KEY, IV) == MAC_VALUE


def test_official_check_mac_value_vector_verifies_in_upper_and_lower_case() -> None:
    assert verify_check_mac_value(MAC_PLAINTEXT, KEY, IV, MAC_VALUE)
    assert verify_check_mac_value(MAC_PLAINTEXT, KEY, IV, MAC_VALUE.lower())


def test_third_party_barcode_vector_produces_the_documented_checksum() -> None:
    plaintext = '{"MerchantID":"3085676","BarCode":"/1234567"}'
    expected = "025168759A37FAADD6AC443CDC6C95D534674611E6BD9F8143E5065B16F77796"
    assert check_mac_value(plaintext, KEY, IV) == expected
    assert verify_check_mac_value(plaintext, KEY, IV, expected)


def test_php_and_rfc3986_checksums_of_the_section_2_6_example_differ_and_both_verify() -> None:
    plaintext = '{"MerchantID":"3085676","ItemName":"A B~!"}'
    php_mac = "71EE3F11C8AF7AC43261CD9224B61B43E3E11FB61BEEEB050B27F9C4272B9521"
    rfc3986_mac = "AFBF6B0680007AF87D0A51A3C7E9479D349BB5AC92A2C3F88CC07128374A3A87"
    assert check_mac_value(plaintext, KEY, IV) == php_mac
    assert check_mac_value(plaintext, KEY, IV, encoder=rfc3986_encode) == rfc3986_mac
    assert verify_check_mac_value(plaintext, KEY, IV, php_mac)
    assert verify_check_mac_value(plaintext, KEY, IV, rfc3986_mac)


def test_a_checksum_made_with_encode_uri_component_also_verifies() -> None:
    plaintext = '{"ItemName":"A B~!*\'()"}'
    js_mac = check_mac_value(plaintext, KEY, IV, encoder=js_encode_uri_component)
    assert js_mac not in {check_mac_value(plaintext, KEY, IV, encoder=e) for e in (php_urlencode, rfc3986_encode)}
    assert verify_check_mac_value(plaintext, KEY, IV, js_mac)


@pytest.mark.parametrize(
    "received",
    [
        pytest.param(MAC_VALUE[:-1] + "B", id="one-digit-off"),
        pytest.param("", id="empty"),
        pytest.param(MAC_VALUE + "0", id="too-long"),
        pytest.param("É" * 64, id="non-ascii"),
    ],
)
def test_a_wrong_check_mac_value_does_not_verify(received: str) -> None:
    assert not verify_check_mac_value(MAC_PLAINTEXT, KEY, IV, received)


def test_a_checksum_does_not_verify_under_other_keys() -> None:
    assert not verify_check_mac_value(MAC_PLAINTEXT, INVOICE_KEY, INVOICE_IV, MAC_VALUE)


# --- Envelopes (§2.2, §2.3, §2.7) ------------------------------------------------------------------------


def test_derived_full_envelope_vector_is_reproduced_by_seal_request() -> None:
    data = {"MerchantID": "3085676", "MerchantTradeNo": "CX202202221540568521"}
    envelope = seal_request(data, "3085676", None, KEY, IV, 1525168923)
    assert envelope.to_wire() == {
        "MerchantID": "3085676",
        "RqHeader": {"Timestamp": 1525168923},
        "Data": ENVELOPE_DATA,
        "CheckMacValue": MAC_VALUE,
    }


def test_sealed_data_is_compact_json_with_raw_utf8() -> None:
    envelope = seal_request({"ItemName": "票券 A", "Qty": 1}, "3085676", "3002599", KEY, IV, NOW)
    assert decrypt_data(envelope.data, KEY, IV) == '{"ItemName":"票券 A","Qty":1}'
    assert envelope.to_wire()["PlatformID"] == "3002599"


def test_a_sealed_request_opens_to_the_same_data() -> None:
    data = {"MerchantID": "3085676", "Items": [{"ItemNo": "A1", "Price": 100}], "Note": "a b~!"}
    opened = open_request(seal_request(data, "3085676", "3002599", KEY, IV, NOW), KEY, IV, now_unix=NOW)
    assert isinstance(opened, OpenedData)
    assert opened.data == data


def test_a_request_parsed_from_wire_json_opens() -> None:
    wire = (
        '{"PlatformID":"3002599","MerchantID":"3085676","RqHeader":{"Timestamp":1525168923},'
        f'"Data":"{ENVELOPE_DATA}","CheckMacValue":"{MAC_VALUE.lower()}"}}'
    )
    envelope = RequestEnvelope.model_validate_json(wire)
    opened = open_request(envelope, KEY, IV, now_unix=1525168923 + 30)
    assert isinstance(opened, OpenedData)
    assert opened.plaintext == MAC_PLAINTEXT


def test_checksum_is_verified_over_the_decrypted_string_verbatim_not_a_reserialisation() -> None:
    # PHP json_encode style: spaces and \u escapes; re-serialising would change the bytes and the checksum.
    plaintext = '{ "ItemName" : "\\u7968\\u5238", "Qty": 1 }'
    opened = _open(_envelope_for(plaintext))
    assert isinstance(opened, OpenedData)
    assert opened.plaintext == plaintext
    assert opened.data == {"ItemName": "票券", "Qty": 1}


def test_a_checksum_over_the_reserialised_data_is_rejected() -> None:
    plaintext = '{ "Qty": 1 }'
    envelope = _envelope_for(plaintext, mac=check_mac_value('{"Qty":1}', KEY, IV))
    assert _failure_reason(_open(envelope)) is EnvelopeFailureReason.CHECKMAC_MISMATCH


def test_data_swapped_for_other_ciphertext_fails_the_checksum() -> None:
    genuine = seal_request({"Amount": 100}, "3085676", None, KEY, IV, NOW)
    tampered = genuine.model_copy(update={"data": encrypt_data('{"Amount":1}', KEY, IV)})
    assert _failure_reason(_open(tampered)) is EnvelopeFailureReason.CHECKMAC_MISMATCH


def test_a_tampered_check_mac_value_fails_the_checksum() -> None:
    genuine = seal_request({"Amount": 100}, "3085676", None, KEY, IV, NOW)
    tampered = genuine.model_copy(update={"check_mac_value": MAC_VALUE})
    assert _failure_reason(_open(tampered)) is EnvelopeFailureReason.CHECKMAC_MISMATCH


def test_garbage_data_fails_to_decrypt() -> None:
    envelope = seal_request({"Amount": 100}, "3085676", None, KEY, IV, NOW).model_copy(update={"data": "@@@"})
    assert _failure_reason(_open(envelope)) is EnvelopeFailureReason.DECRYPT_FAILED


def test_a_request_sealed_with_another_key_fails_to_decrypt() -> None:
    envelope = seal_request({"Amount": 100}, "3085676", None, INVOICE_KEY, INVOICE_IV, NOW)
    assert _failure_reason(_open(envelope)) is EnvelopeFailureReason.DECRYPT_FAILED


@pytest.mark.parametrize("skew", [-600, -1, 0, 1, 600])
def test_a_timestamp_within_ten_minutes_either_way_is_accepted(skew: int) -> None:
    envelope = _envelope_for("{}", timestamp=NOW + skew)
    assert isinstance(_open(envelope), OpenedData)


@pytest.mark.parametrize(
    "skew", [pytest.param(-601, id="stale"), pytest.param(601, id="future"), pytest.param(-NOW, id="epoch")]
)
def test_a_timestamp_outside_the_window_is_rejected(skew: int) -> None:
    envelope = _envelope_for("{}", timestamp=NOW + skew)
    result = _open(envelope)
    assert _failure_reason(result) is EnvelopeFailureReason.TIMESTAMP_OUT_OF_WINDOW


def test_the_timestamp_is_checked_before_anything_is_decrypted() -> None:
    envelope = _envelope_for("{}", timestamp=NOW - 3600).model_copy(update={"data": "@@@"})
    result = _open(envelope)
    assert _failure_reason(result) is EnvelopeFailureReason.TIMESTAMP_OUT_OF_WINDOW


def test_a_custom_window_is_honoured() -> None:
    envelope = _envelope_for("{}", timestamp=NOW - 61)
    assert _failure_reason(open_request(envelope, KEY, IV, NOW, window_seconds=60)) is (
        EnvelopeFailureReason.TIMESTAMP_OUT_OF_WINDOW
    )
    assert isinstance(open_request(envelope, KEY, IV, NOW, window_seconds=61), OpenedData)


def test_a_negative_window_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="window_seconds"):
        open_request(_envelope_for("{}"), KEY, IV, NOW, window_seconds=-1)


@pytest.mark.parametrize(
    "plaintext",
    [
        pytest.param("not json", id="text"),
        pytest.param('{"a":1', id="truncated"),
        pytest.param('{"a":1,"a":2}', id="duplicate-key"),
        pytest.param('{"a":NaN}', id="nan"),
        pytest.param("", id="empty"),
    ],
)
def test_authentic_data_that_is_not_json_is_rejected(plaintext: str) -> None:
    result = _open(_envelope_for(plaintext))
    assert _failure_reason(result) is EnvelopeFailureReason.DATA_NOT_JSON


@pytest.mark.parametrize("plaintext", ["[1,2]", '"text"', "42", "null"])
def test_authentic_json_that_is_not_an_object_is_rejected(plaintext: str) -> None:
    result = _open(_envelope_for(plaintext))
    assert _failure_reason(result) is EnvelopeFailureReason.DATA_NOT_OBJECT


def test_a_sealed_response_opens_on_the_client_side() -> None:
    data = {"RtnCode": 1, "RtnMsg": "成功"}
    envelope = seal_response(data, "3085676", "3002599", KEY, IV, NOW, trans_code=1, trans_msg="Success")
    wire = envelope.to_wire()
    assert wire["RpHeader"] == {"Timestamp": NOW}
    assert (wire["TransCode"], wire["TransMsg"], wire["PlatformID"]) == (1, "Success", "3002599")
    opened = open_response(envelope, KEY, IV)
    assert isinstance(opened, OpenedData)
    assert opened.data == data


def test_a_stale_response_is_rejected_only_when_the_client_supplies_the_time() -> None:
    envelope = seal_response({"RtnCode": 1, "RtnMsg": "OK"}, "3085676", None, KEY, IV, NOW)
    assert isinstance(open_response(envelope, KEY, IV), OpenedData)
    result = open_response(envelope, KEY, IV, now_unix=NOW + 601)
    assert _failure_reason(result) is EnvelopeFailureReason.TIMESTAMP_OUT_OF_WINDOW


def test_a_response_with_a_tampered_check_mac_value_is_rejected() -> None:
    envelope = seal_response({"RtnCode": 1, "RtnMsg": "OK"}, "3085676", None, KEY, IV, NOW)
    tampered = envelope.model_copy(update={"check_mac_value": MAC_VALUE})
    assert _failure_reason(open_response(tampered, KEY, IV)) is EnvelopeFailureReason.CHECKMAC_MISMATCH


@pytest.mark.parametrize(
    "header",
    [pytest.param('{"Timestamp":"1525168923"}', id="string"), pytest.param('{"Timestamp":true}', id="bool")],
)
def test_a_request_envelope_rejects_a_timestamp_that_is_not_an_integer(header: str) -> None:
    wire = f'{{"MerchantID":"3085676","RqHeader":{header},"Data":"x","CheckMacValue":"y"}}'
    with pytest.raises(ValidationError):
        RequestEnvelope.model_validate_json(wire)


def test_a_request_envelope_requires_a_merchant_id_of_at_most_ten_characters() -> None:
    with pytest.raises(ValidationError):
        RequestEnvelope.model_validate(
            {"MerchantID": "12345678901", "RqHeader": {"Timestamp": NOW}, "Data": "x", "CheckMacValue": "y"}
        )
