"""The independent client's envelope reproduces the official vectors of `../shared/docs/ecticket-api.md` §2.4-§2.6
(copied here: CI clones do not have ../shared/docs), and shares no code with the platform."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.support import independent_client
from tests.support.independent_client import (
    ReplyNotAuthentic,
    check_mac_value,
    decrypt,
    encrypt,
    open_response,
    php_urlencode,
    seal,
)

pytestmark = pytest.mark.unit

# §2.4 and §2.5: the ECTicket test keys.
KEY, IV = "7b53896b742849d3", "37a0ad3c6ffa428b"
# §2.4: the e-invoice keys of the same algorithm's second vector.
INVOICE_KEY, INVOICE_IV = "ejCk326UnaZWKisg", "q9jcZX8Ib9LM8wYk"

NAME_ID = '{"Name":"Test","ID":"A123456789"}'
TRADE = '{"MerchantID":"3085676","MerchantTradeNo":"CX202202221540568521"}'


def test_the_official_aes_vector_url_encodes_then_encrypts_to_the_documented_data() -> None:
    assert php_urlencode(NAME_ID) == "%7B%22Name%22%3A%22Test%22%2C%22ID%22%3A%22A123456789%22%7D"
    data = "oxmUqzelA4koGRQ+myZggW5qNqlVdytGJadngOuWA7jd1Fakpay72J/w5IXLIINqCYcmx7gLsaednuH54LjffA=="
    assert encrypt(NAME_ID, KEY, IV) == data
    assert decrypt(data, KEY, IV) == NAME_ID


def test_the_e_invoice_vector_encrypts_alike_and_its_lower_case_hex_variant_decrypts_to_the_same_json() -> None:
    upper = "uvI4yrErM37XNQkXGAgRgJAgHn2t72jahaMZzYhWL1HmvH4WV18VJDP2i9pTbC+tby5nxVExLLFyAkbjbS2Dvg=="
    lower = "ZD/z07UvdmL3aYz0tsVo+bFXF5VldNcns6ezyfea777KOmLiizrUNDYe+v1bh2QTT4AySf1NICgXxWXB6f7c6A=="
    assert encrypt(NAME_ID, INVOICE_KEY, INVOICE_IV) == upper
    assert decrypt(upper, INVOICE_KEY, INVOICE_IV) == decrypt(lower, INVOICE_KEY, INVOICE_IV) == NAME_ID


def test_the_official_check_mac_value_vector() -> None:
    assert check_mac_value(TRADE, KEY, IV) == "CE67BBD259EE38BA1C7FB7CC88C3BD91D3F082B46EAEBD4E4E5F2184CB23349A"


def test_the_third_party_vector_escapes_the_slash() -> None:
    plaintext = '{"MerchantID":"3085676","BarCode":"/1234567"}'
    assert check_mac_value(plaintext, KEY, IV) == "025168759A37FAADD6AC443CDC6C95D534674611E6BD9F8143E5065B16F77796"


def test_the_checksum_uses_php_urlencode_space_as_plus_and_tilde_escaped() -> None:
    plaintext = '{"MerchantID":"3085676","ItemName":"A B~!"}'
    assert "A+B%7E%21" in php_urlencode(plaintext)
    assert check_mac_value(plaintext, KEY, IV) == "71EE3F11C8AF7AC43261CD9224B61B43E3E11FB61BEEEB050B27F9C4272B9521"


def test_a_sealed_request_is_the_documents_full_envelope_vector() -> None:
    envelope = seal(json.loads(TRADE), "3085676", KEY, IV, timestamp=1525168923)
    assert envelope == {
        "MerchantID": "3085676",
        "RqHeader": {"Timestamp": 1525168923},
        "Data": "YRMg3uuqgyQTGt8ZLip/vtwxg8T7lTGKrGIDwyQX318W7HSWqhTeJ88z57fuia5wNiRjLnk2UUs1rv1EQeEViTOzpNj9TOU7wQsB4sCk"
        "+RCXr9VdaYojO5z5oRHmplgl",
        "CheckMacValue": "CE67BBD259EE38BA1C7FB7CC88C3BD91D3F082B46EAEBD4E4E5F2184CB23349A",
    }
    assert seal({}, "2000132", KEY, IV, timestamp=1, platform_id="3002599")["PlatformID"] == "3002599"


def _response(plaintext: str, *, mac: str | None = None, trans_code: int = 1) -> dict[str, object]:
    return {
        "MerchantID": "3085676",
        "RpHeader": {"Timestamp": 1525168923},
        "TransCode": trans_code,
        "TransMsg": "Success",
        "Data": encrypt(plaintext, KEY, IV),
        "CheckMacValue": mac or check_mac_value(plaintext, KEY, IV),
    }


def test_a_response_is_opened_only_when_its_checksum_matches_the_decrypted_data() -> None:
    opened = open_response(_response('{"RtnCode":1,"RtnMsg":"成功 ok"}'), KEY, IV)
    assert (opened.trans_code, opened.rtn_code, opened.data) == (1, 1, {"RtnCode": 1, "RtnMsg": "成功 ok"})
    with pytest.raises(ReplyNotAuthentic):
        open_response(_response('{"RtnCode":1}', mac=check_mac_value('{"RtnCode":2}', KEY, IV)), KEY, IV)


def test_a_response_with_empty_data_carries_only_its_transcode() -> None:
    envelope = _response("{}", trans_code=1004) | {"Data": "", "CheckMacValue": ""}
    opened = open_response(envelope, KEY, IV)
    assert (opened.trans_code, opened.data, opened.rtn_code) == (1004, None, None)


def test_the_client_imports_nothing_of_the_platform() -> None:
    tree = ast.parse(Path(independent_client.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    roots = {name.split(".")[0] for name in imported}
    assert roots.isdisjoint({"shared", "services", "deploy", "tests"}), roots
