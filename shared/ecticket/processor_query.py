"""The platform's trade query to the payment processor: how a batch query and its answer are signed.

Both directions of `POST /Cashier/QueryTradeInfo/Batch` (docs/money-trust.md) carry a CheckMacValue made with the
**platform's** processor credentials (PROCESSOR_HASH_KEY / PROCESSOR_HASH_IV), never a merchant's: a merchant who
forges a payment result must not be able to forge the processor's word on it too. The digest is AIO's own
(`aio_check_mac_value`) over the top-level fields, each written as text first: a string as it is, an integer in
decimal, anything else (the `Orders` and `Trades` lists) as canonical JSON, so both sides hash the same bytes
whatever their JSON library's spacing or key order.

Pure: no I/O besides `processor_credentials()` reading the environment. Imported by payment-confirmation (the
asking side) and the processor simulator (the answering side); its names are a contract between them.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Mapping
from typing import NamedTuple

from shared.ecticket.aio import CHECK_MAC_FIELD, aio_check_mac_value

__all__ = [
    "DEFAULT_PROCESSOR_URL",
    "DEV_PROCESSOR_HASH_IV",
    "DEV_PROCESSOR_HASH_KEY",
    "MAX_QUERY_ORDERS",
    "ProcessorCredentials",
    "canonical",
    "processor_credentials",
    "processor_url",
    "query_mac",
    "verify_query_mac",
]

# Development-only credentials; a production deployment sets PROCESSOR_HASH_KEY / PROCESSOR_HASH_IV from its
# secret store (the processor issues them to the platform, as ECPay issues a merchant's HashKey/HashIV).
DEV_PROCESSOR_HASH_KEY = "pRoC3ss0rDevK3y1"
DEV_PROCESSOR_HASH_IV = "pRoC3ss0rDevIv01"
DEFAULT_PROCESSOR_URL = "http://127.0.0.1:18090"
# One query asks about at most this many orders (one verification batch); the processor refuses more.
MAX_QUERY_ORDERS = 1000


class ProcessorCredentials(NamedTuple):
    hash_key: str
    hash_iv: str


def processor_credentials() -> ProcessorCredentials:
    """The platform's processor credentials from the environment, else the development ones."""
    return ProcessorCredentials(
        os.environ.get("PROCESSOR_HASH_KEY", DEV_PROCESSOR_HASH_KEY),
        os.environ.get("PROCESSOR_HASH_IV", DEV_PROCESSOR_HASH_IV),
    )


def processor_url() -> str:
    """Where the processor answers (PROCESSOR_URL), without a trailing slash."""
    return os.environ.get("PROCESSOR_URL", DEFAULT_PROCESSOR_URL).rstrip("/")


def canonical(value: object) -> str:
    """A field's text as it is signed: a string as is, an integer in decimal, anything else as canonical JSON
    (sorted keys, no spaces, UTF-8 kept). A bool is JSON (`true`), not Python's `True`."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def query_mac(fields: Mapping[str, object], key: str, iv: str) -> str:
    """The CheckMacValue of a query or an answer: every top-level field but CheckMacValue itself."""
    return aio_check_mac_value(
        {name: canonical(value) for name, value in fields.items() if name != CHECK_MAC_FIELD}, key, iv
    )


def verify_query_mac(fields: Mapping[str, object], key: str, iv: str) -> bool:
    """True if `fields["CheckMacValue"]` is the query_mac of the other fields (hex case ignored, constant-time)."""
    received = fields.get(CHECK_MAC_FIELD)
    if not isinstance(received, str) or not received.isascii():
        return False
    expected = query_mac(fields, key, iv)
    return hmac.compare_digest(expected.encode("ascii"), received.upper().encode("ascii"))
