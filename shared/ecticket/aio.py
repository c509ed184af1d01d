"""ECPay AIO payment-result callback: CheckMacValue and form-body parsing (spec Appendix A).

This checksum differs from the ECTicket one (§2.5): it signs sorted ``k=v`` pairs and restores the
characters .NET's ``HttpUtility.UrlEncode`` leaves unencoded.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl

from shared.ecticket.urlencoding import php_urlencode

__all__ = ["CHECK_MAC_FIELD", "aio_check_mac_value", "parse_form_body", "verify_aio_check_mac_value"]

CHECK_MAC_FIELD = "CheckMacValue"

# Applied after lower-casing, so the escapes are matched in lower-case hex.
_DOTNET_RESTORE = (
    ("%2d", "-"),
    ("%5f", "_"),
    ("%2e", "."),
    ("%21", "!"),
    ("%2a", "*"),
    ("%28", "("),
    ("%29", ")"),
)


def aio_check_mac_value(fields: Mapping[str, str], hash_key: str, hash_iv: str) -> str:
    """SHA-256 CheckMacValue (EncryptType=1) of every field except ``CheckMacValue``; upper-case hex."""
    # Case-insensitive sort as documented; the raw name breaks ties only so the result is deterministic.
    items = sorted(
        ((name, value) for name, value in fields.items() if name != CHECK_MAC_FIELD),
        key=lambda item: (item[0].lower(), item[0]),
    )
    joined = "&".join([f"HashKey={hash_key}", *(f"{name}={value}" for name, value in items), f"HashIV={hash_iv}"])
    # Form-style encoding (space → "+") is PHP urlencode; the whole string, "=" and "&" included, is encoded.
    encoded = php_urlencode(joined).lower()
    for escape, char in _DOTNET_RESTORE:
        encoded = encoded.replace(escape, char)
    return hashlib.sha256(encoded.encode("ascii")).hexdigest().upper()


def verify_aio_check_mac_value(fields: Mapping[str, str], hash_key: str, hash_iv: str) -> bool:
    """True if ``fields["CheckMacValue"]`` matches the other fields (hex case ignored, constant-time)."""
    received = fields.get(CHECK_MAC_FIELD)
    if received is None or not received.isascii():
        return False
    expected = aio_check_mac_value(fields, hash_key, hash_iv)
    return hmac.compare_digest(expected.encode("ascii"), received.upper().encode("ascii"))


def parse_form_body(body: bytes) -> dict[str, str]:
    """Parse an ``application/x-www-form-urlencoded`` UTF-8 body into a dict.

    Raises ``ValueError`` for invalid UTF-8, a malformed pair, or a repeated field name: with duplicates it
    is ambiguous which value the sender signed, so none is picked.
    """
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True, encoding="utf-8", errors="strict")
    except UnicodeDecodeError as exc:
        raise ValueError("form body is not valid UTF-8") from exc
    result: dict[str, str] = {}
    for name, value in pairs:
        if name in result:
            raise ValueError(f"duplicate form field {name!r}")
        result[name] = value
    return result
