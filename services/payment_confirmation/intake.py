"""Parsing a message of ecticket.ingest.payments.v1: an AIO result as a JSON object or a form-encoded body."""

from __future__ import annotations

import json
from dataclasses import dataclass

from shared.ecticket.aio import parse_form_body
from shared.ids import content_id
from shared.infra.messages import Inbound, Parsed, Unparseable, check_size


@dataclass(frozen=True)
class PaymentResult:
    fields: dict[str, str]


def parse_payment_result(record: Inbound) -> Parsed:
    check_size(record)
    body = record.value.strip()
    try:
        fields = _json_fields(body) if body.startswith(b"{") else parse_form_body(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unparseable(f"not an AIO payment result: {exc}") from exc
    for name in ("MerchantID", "MerchantTradeNo"):
        if not fields.get(name):
            raise Unparseable(f"AIO payment result without {name}")
    # The same bytes twice are one message; a re-sent result with new bytes is judged by the domain.
    return Parsed(message_id=content_id(record.topic, body), body=PaymentResult(fields))


def _json_fields(body: bytes) -> dict[str, str]:
    document = json.loads(body)
    if not isinstance(document, dict):
        raise ValueError("JSON payment result must be an object")
    fields: dict[str, str] = {}
    for name, value in document.items():
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"field {name} must be a string or an integer")
        fields[name] = str(value)
    return fields
