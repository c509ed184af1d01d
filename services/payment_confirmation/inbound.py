"""Reading a message of ecticket.ingest.payments.v1 into a PaymentResult: an AIO result as a JSON object or a
form-encoded body (pure: bounded parsing, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared import bounded_json
from shared.ecticket.aio import parse_form_body
from shared.ids import content_id
from shared.infra.messages import Inbound, Parsed, Unparseable, check_size

# An AIO result is a flat object of short fields (names and values of at most a few dozen characters; RtnMsg and
# the CustomFields are the longest). Generous limits, far below what would strain a jsonb column or a log line.
MAX_FIELDS = 64
MAX_FIELD_CHARS = 1024
# The order's identity: it keys the payment's events and rows (and issuance's order row, a B-tree index), so it
# must be what AIO sends (MerchantID String(10); MerchantTradeNo alphanumeric, String(20) in AIO and up to 25 as
# the ECTicket MerchantTradeNo it must equal), never arbitrary text.
_MERCHANT_ID = re.compile(r"[A-Za-z0-9]{1,10}")
_MERCHANT_TRADE_NO = re.compile(r"[A-Za-z0-9]{1,25}")


@dataclass(frozen=True)
class PaymentResult:
    fields: dict[str, str]


def parse_payment_result(record: Inbound) -> Parsed[PaymentResult]:
    check_size(record)
    body = record.value.strip()
    try:
        fields = _json_fields(body) if body.startswith(b"{") else _form_fields(body)
    except ValueError as exc:  # bounded_json.Rejected, and parse_form_body's own refusals
        raise Unparseable(f"not an AIO payment result: {exc}") from None
    for name, pattern in (("MerchantID", _MERCHANT_ID), ("MerchantTradeNo", _MERCHANT_TRADE_NO)):
        if not fields.get(name):
            raise Unparseable(f"AIO payment result without {name}")
        if not pattern.fullmatch(fields[name]):
            raise Unparseable(f"AIO payment result whose {name} is not an AIO {name} (letters and digits)")
    # The same bytes twice are one message; a re-sent result with new bytes is judged by the domain.
    return Parsed(message_id=content_id(record.topic, body), body=PaymentResult(fields))


def _json_fields(body: bytes) -> dict[str, str]:
    document = bounded_json.loads(body, max_depth=1, max_string=MAX_FIELD_CHARS)
    if not isinstance(document, dict):
        raise ValueError("JSON payment result must be an object")
    if len(document) > MAX_FIELDS:
        raise ValueError(f"{len(document)} fields exceed the limit of {MAX_FIELDS}")
    fields: dict[str, str] = {}
    for name, value in document.items():
        # bool is an int to Python, but `true` is no amount; floats and nested values are not AIO fields either.
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ValueError(f"field {name[:40]!a} must be a string or an integer")
        fields[name] = value if isinstance(value, str) else str(value)
    return fields


def _form_fields(body: bytes) -> dict[str, str]:
    fields = parse_form_body(body)
    if len(fields) > MAX_FIELDS:
        raise ValueError(f"{len(fields)} fields exceed the limit of {MAX_FIELDS}")
    for name, value in fields.items():
        bounded_json.check_text(name, max_string=MAX_FIELD_CHARS, what="a field name")
        bounded_json.check_text(value, max_string=MAX_FIELD_CHARS, what=f"field {name[:40]!a}")
    return fields
