"""docs/notifications.md stays true: its merchant endpoint opens the example notification, and the service accepts
the acknowledgement it answers with."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from services.notification.domain.acks import Acknowledged, acknowledgement
from shared.merchants.model import NotifyAck

DOC = (Path(__file__).resolve().parents[2] / "docs" / "notifications.md").read_text()
KEY, IV = "7b53896b742849d3", "37a0ad3c6ffa428b"


def doc_endpoint() -> dict[str, Any]:
    """The doc's Python endpoint, without starting its server."""
    [code] = re.findall(r"```python\n(.*?)```", DOC, re.S)
    namespace: dict[str, Any] = {}
    exec(code.replace("web.run_app(app, port=8000)", ""), namespace)
    return namespace


def test_the_docs_endpoint_verifies_and_reads_the_example_notification() -> None:
    endpoint = doc_endpoint()
    envelope = json.loads(re.findall(r"```json\n(.*?)```", DOC, re.S)[0])
    plaintext = endpoint["decrypt"](envelope["Data"])
    assert endpoint["check_mac"](plaintext) == envelope["CheckMacValue"]
    data = json.loads(plaintext)
    assert (data["UseStatus"], data["NotificationID"]) == (2, "0b5c6e8a-3f6d-5d1e-9a7b-2c4d6e8f0a1b")


def test_the_acknowledgement_the_doc_shows_is_accepted() -> None:
    endpoint = doc_endpoint()
    answer = json.dumps({"RtnCode": 1, "RtnMsg": "OK"}, separators=(",", ":"))
    body = {"MerchantID": "3085676", "RpHeader": {"Timestamp": 1764311406}, "TransCode": 1, "TransMsg": "Success",
            "Data": endpoint["encrypt"](answer), "CheckMacValue": endpoint["check_mac"](answer)}  # fmt: skip
    verdict = acknowledgement(200, json.dumps(body).encode(), NotifyAck.ENVELOPE, KEY, IV)
    assert isinstance(verdict, Acknowledged)
    shown = json.loads(re.findall(r"```json\n(.*?)```", DOC, re.S)[3])
    assert isinstance(acknowledgement(200, json.dumps(shown).encode(), NotifyAck.ENVELOPE, KEY, IV), Acknowledged)
    assert endpoint["php_urlencode"]("A B~!") == "A+B%7E%21"  # PHP urlencode, as the platform's checksum
