"""The client script of docs/integrating.md, as a merchant copies it, seals and opens envelopes as the API document's
official vectors say (`../shared/docs/ecticket-api.md` §2.4, §2.5; copied here)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[2] / "docs" / "integrating.md"


@pytest.fixture(scope="module")
def script() -> dict[str, Any]:
    """The script's functions, without running it (its `__main__` block sends a request)."""
    match = re.search(r"cat > ecticket_call\.py <<'PY'\n(.*?)\nPY\n", DOC.read_text(), re.DOTALL)
    assert match, "docs/integrating.md no longer holds the ecticket_call.py script"
    namespace: dict[str, Any] = {"__name__": "ecticket_call"}
    exec(compile(match.group(1), "ecticket_call.py", "exec"), namespace)
    return namespace


def test_the_script_seals_as_the_official_aes_vector_and_opens_it_again(script: dict[str, Any]) -> None:
    plaintext = '{"Name":"Test","ID":"A123456789"}'
    data = "oxmUqzelA4koGRQ+myZggW5qNqlVdytGJadngOuWA7jd1Fakpay72J/w5IXLIINqCYcmx7gLsaednuH54LjffA=="
    assert (script["KEY"], script["IV"]) == ("7b53896b742849d3", "37a0ad3c6ffa428b")  # the vectors' keys
    assert script["encrypt"](plaintext) == data
    assert script["decrypt"](data) == plaintext


def test_the_script_checksums_as_the_official_and_the_url_encoding_vectors(script: dict[str, Any]) -> None:
    trade = '{"MerchantID":"3085676","MerchantTradeNo":"CX202202221540568521"}'
    assert script["mac"](trade) == "CE67BBD259EE38BA1C7FB7CC88C3BD91D3F082B46EAEBD4E4E5F2184CB23349A"
    spaced = '{"MerchantID":"3085676","ItemName":"A B~!"}'  # PHP urlencode: "A+B%7E%21" (§2.6)
    assert script["mac"](spaced) == "71EE3F11C8AF7AC43261CD9224B61B43E3E11FB61BEEEB050B27F9C4272B9521"
    slash = '{"MerchantID":"3085676","BarCode":"/1234567"}'
    assert script["mac"](slash) == "025168759A37FAADD6AC443CDC6C95D534674611E6BD9F8143E5065B16F77796"
