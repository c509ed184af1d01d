"""An AIO payment-result callback (Appendix A) as the webhook receives it: read and checked (pure).

Only what makes a result fit for the payments topic is checked here: its shape (the limits payment-confirmation
reads the topic with) and its CheckMacValue under the merchant's payment keys. Whether the payment counts (a
one-time card payment, the amount, the processor's record) stays payment-confirmation's decision alone."""

from __future__ import annotations

import re

from shared import bounded_json
from shared.ecticket.aio import parse_form_body, verify_aio_check_mac_value

# payment-confirmation's limits on a result (services/payment_confirmation/inbound.py, docs/decisions.md "Input
# limits"): a result it would refuse unread is refused here, where the sender can still be told.
MAX_BODY_BYTES = 256 * 1024
MAX_FIELDS = 64
MAX_FIELD_CHARS = 1024
_MERCHANT_ID = re.compile(r"[A-Za-z0-9]{1,10}")
_MERCHANT_TRADE_NO = re.compile(r"[A-Za-z0-9]{1,25}")


class NotAPaymentResult(ValueError):
    """Why a body is not an AIO result; safe to show to the sender."""


def read(body: bytes) -> dict[str, str]:
    """The form fields of a result, or NotAPaymentResult."""
    if len(body) > MAX_BODY_BYTES:
        raise NotAPaymentResult(f"the body exceeds {MAX_BODY_BYTES} bytes")
    try:
        fields = parse_form_body(body.strip())
        if len(fields) > MAX_FIELDS:
            raise NotAPaymentResult(f"{len(fields)} fields exceed the limit of {MAX_FIELDS}")
        for name, value in fields.items():
            bounded_json.check_text(name, max_string=MAX_FIELD_CHARS, what="a field name")
            bounded_json.check_text(value, max_string=MAX_FIELD_CHARS, what=f"field {name[:40]!a}")
    except ValueError as exc:
        raise NotAPaymentResult(f"not a form-encoded AIO result: {exc}") from None
    for name, pattern in (("MerchantID", _MERCHANT_ID), ("MerchantTradeNo", _MERCHANT_TRADE_NO)):
        if not pattern.fullmatch(fields.get(name, "")):
            raise NotAPaymentResult(f"{name} is missing or not letters and digits")
    if not fields.get("CheckMacValue"):
        raise NotAPaymentResult("CheckMacValue is missing")
    return fields


def signed_by(fields: dict[str, str], payment_key: str, payment_iv: str) -> bool:
    return verify_aio_check_mac_value(fields, payment_key, payment_iv)
