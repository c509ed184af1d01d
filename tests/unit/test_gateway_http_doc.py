"""The sealing script of docs/http.md, as a merchant copies it, seals and opens envelopes as the API document's
official vectors say (`../shared/docs/ecticket-api.md` §2.4, §2.5; copied here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "http.md"


@pytest.fixture(scope="module")
def script() -> dict[str, Any]:
    """The script's functions, without running its command line."""
    match = re.search(r"cat > ecticket_http\.py <<'PY'\n(.*?)\nPY\n", DOC.read_text(), re.DOTALL)
    assert match, "docs/http.md no longer holds the ecticket_http.py script"
    namespace: dict[str, Any] = {"__name__": "ecticket_http"}
    exec(compile(match.group(1), "ecticket_http.py", "exec"), namespace)
    return namespace


def test_the_script_seals_as_the_official_aes_and_checksum_vectors(script: dict[str, Any]) -> None:
    plaintext = '{"Name":"Test","ID":"A123456789"}'
    data = "oxmUqzelA4koGRQ+myZggW5qNqlVdytGJadngOuWA7jd1Fakpay72J/w5IXLIINqCYcmx7gLsaednuH54LjffA=="
    assert (script["KEY"], script["IV"]) == ("7b53896b742849d3", "37a0ad3c6ffa428b")
    assert script["encrypt"](plaintext) == data and script["decrypt"](data) == plaintext
    trade = '{"MerchantID":"3085676","MerchantTradeNo":"CX202202221540568521"}'
    assert script["mac"](trade) == "CE67BBD259EE38BA1C7FB7CC88C3BD91D3F082B46EAEBD4E4E5F2184CB23349A"
    spaced = '{"MerchantID":"3085676","ItemName":"A B~!"}'  # PHP urlencode: "A+B%7E%21" (§2.6)
    assert script["mac"](spaced) == "71EE3F11C8AF7AC43261CD9224B61B43E3E11FB61BEEEB050B27F9C4272B9521"


def test_a_sealed_envelope_names_the_merchant_and_carries_the_checksum_of_its_data(script: dict[str, Any]) -> None:
    envelope = script["seal"]({"MerchantTradeNo": "CX202202221540568521"})
    plaintext = script["decrypt"](envelope["Data"])
    assert json.loads(plaintext) == {"MerchantID": "3085676", "MerchantTradeNo": "CX202202221540568521"}
    assert envelope["CheckMacValue"] == script["mac"](plaintext) and envelope["MerchantID"] == "3085676"
