"""ECTicket request/response envelopes (spec §2.2, §2.3) and sealing/opening them (§2.4-§2.7).

Pure functions: no I/O and no clock reads, the current time is always an argument.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared import bounded_json
from shared.ecticket.crypto import (
    DataDecryptError,
    decrypt_data,
    seal_data,
    verify_check_mac_value,
)

__all__ = [
    "DEFAULT_WINDOW_SECONDS",
    "EnvelopeFailure",
    "EnvelopeFailureReason",
    "OpenedData",
    "RequestEnvelope",
    "RequestHeader",
    "ResponseEnvelope",
    "ResponseHeader",
    "open_request",
    "open_response",
    "seal_request",
    "seal_response",
    "serialize_data",
]

DEFAULT_WINDOW_SECONDS = 600
"""ECPay rejects a request received more than 10 minutes after its timestamp (§2.7)."""

# Limits on a decrypted Data (docs/decisions.md, "Input limits"). The largest real Data, an Issue of 20 lines with
# customer details, is a few KB and nests three levels (Data, TicketInfo, a line).
MAX_DATA_CHARS = 64 * 1024
# A reply's Data is the platform's own output, read by a client that trusts its checksum: up to a whole Kafka
# message (an Issue outcome of 1,000 tickets is about 110 KB of Data; a CSV up to 60,000 characters).
MAX_REPLY_DATA_CHARS = 1024 * 1024
MAX_DATA_DEPTH = 8
MAX_DATA_STRING = 2048


class _WireModel(BaseModel):
    # Python attributes are snake_case; the wire (JSON) names are the aliases, accepted and emitted as such.
    # strict: a Timestamp of "1525168923" or true is a client bug, not something to coerce silently.
    model_config = ConfigDict(
        frozen=True,
        strict=True,
        validate_by_alias=True,
        validate_by_name=True,
        serialize_by_alias=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict with ECTicket field names; an absent optional PlatformID is omitted."""
        return self.model_dump(mode="json", exclude_none=True)


class RequestHeader(_WireModel):
    timestamp: int = Field(alias="Timestamp", description="Unix seconds of the send time")


class ResponseHeader(_WireModel):
    timestamp: int = Field(alias="Timestamp", description="Unix seconds of the send time")


class RequestEnvelope(_WireModel):
    """§2.2: sent merchant → platform, and platform → merchant for notifications."""

    platform_id: str | None = Field(default=None, alias="PlatformID", max_length=10)
    merchant_id: str = Field(alias="MerchantID", min_length=1, max_length=10)
    rq_header: RequestHeader = Field(alias="RqHeader")
    data: str = Field(alias="Data", description="base64 AES ciphertext of the URL-encoded JSON")
    check_mac_value: str = Field(alias="CheckMacValue", description="checksum over the plaintext Data")


class ResponseEnvelope(_WireModel):
    """§2.3: platform → merchant. ``trans_code == 1`` means the envelope itself was accepted."""

    platform_id: str | None = Field(default=None, alias="PlatformID", max_length=10)
    merchant_id: str = Field(alias="MerchantID", max_length=10)
    rp_header: ResponseHeader = Field(alias="RpHeader")
    trans_code: int = Field(alias="TransCode")
    trans_msg: str = Field(alias="TransMsg", max_length=200)
    data: str = Field(alias="Data")
    check_mac_value: str = Field(alias="CheckMacValue")


class EnvelopeFailureReason(StrEnum):
    TIMESTAMP_OUT_OF_WINDOW = "timestamp_out_of_window"
    DECRYPT_FAILED = "decrypt_failed"
    CHECKMAC_MISMATCH = "checkmac_mismatch"
    DATA_NOT_JSON = "data_not_json"
    DATA_NOT_OBJECT = "data_not_object"


@dataclass(frozen=True, slots=True)
class EnvelopeFailure:
    """Why an envelope was rejected. ``message`` is safe to show to the sender: it never contains keys."""

    reason: EnvelopeFailureReason
    message: str


@dataclass(frozen=True, slots=True)
class OpenedData:
    """A verified Data payload: ``plaintext`` is the decrypted JSON verbatim, ``data`` its parsed object."""

    plaintext: str
    data: dict[str, Any]


def serialize_data(data: Mapping[str, Any]) -> str:
    """Compact JSON with raw UTF-8; the exact string that is both encrypted and checksummed (§2.4 step 1)."""
    # allow_nan=False: NaN/Infinity are not JSON and a strict peer would reject the payload.
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def seal_request(
    data: Mapping[str, Any],
    merchant_id: str,
    platform_id: str | None,
    hash_key: str,
    hash_iv: str,
    timestamp: int,
) -> RequestEnvelope:
    """Build a request (or notification) envelope: encrypt ``data`` and checksum its JSON (PHP encoder)."""
    sealed, mac = seal_data(serialize_data(data), hash_key, hash_iv)
    return RequestEnvelope(
        platform_id=platform_id,
        merchant_id=merchant_id,
        rq_header=RequestHeader(timestamp=timestamp),
        data=sealed,
        check_mac_value=mac,
    )


def seal_response(
    data: Mapping[str, Any],
    merchant_id: str,
    platform_id: str | None,
    hash_key: str,
    hash_iv: str,
    timestamp: int,
    trans_code: int = 1,
    trans_msg: str = "Success",
) -> ResponseEnvelope:
    """Build a response envelope; ``data`` should carry at least ``RtnCode`` and ``RtnMsg`` (§2.3)."""
    sealed, mac = seal_data(serialize_data(data), hash_key, hash_iv)
    return ResponseEnvelope(
        platform_id=platform_id,
        merchant_id=merchant_id,
        rp_header=ResponseHeader(timestamp=timestamp),
        trans_code=trans_code,
        trans_msg=trans_msg,
        data=sealed,
        check_mac_value=mac,
    )


def open_request(
    envelope: RequestEnvelope,
    hash_key: str,
    hash_iv: str,
    now_unix: int,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
) -> OpenedData | EnvelopeFailure:
    """Verify and decrypt a request envelope, checking in the order: timestamp, decrypt, checksum, JSON.

    Timestamp window: accepted when ``|now_unix - Timestamp| <= window_seconds``. ECPay documents only the
    "no more than 10 minutes late" side (§2.7); future timestamps are an open question (§7.8). We make the
    window symmetric so a merchant whose clock runs a little fast is not rejected, while a timestamp far in
    the future (which would otherwise stay "fresh" indefinitely) still is.

    Note that RqHeader is not covered by CheckMacValue (only the Data plaintext is), so the window limits
    honest clock skew but cannot by itself stop a replay with a rewritten Timestamp; replay protection must
    come from the business identifiers inside Data (e.g. idempotent MerchantTradeNo).

    The checksum is verified over the decrypted string verbatim, never over a re-serialised object (§2.6).
    """
    return _open(
        timestamp=envelope.rq_header.timestamp,
        data=envelope.data,
        received_mac=envelope.check_mac_value,
        hash_key=hash_key,
        hash_iv=hash_iv,
        now_unix=now_unix,
        window_seconds=window_seconds,
    )


def open_response(
    envelope: ResponseEnvelope,
    hash_key: str,
    hash_iv: str,
    now_unix: int | None = None,
    window_seconds: int = DEFAULT_WINDOW_SECONDS,
) -> OpenedData | EnvelopeFailure:
    """Client-side counterpart of :func:`open_request` for response envelopes.

    The timestamp is only checked when ``now_unix`` is given. ``TransCode`` is not interpreted here: a
    server may still return encrypted Data explaining a failure, and the caller can read
    ``envelope.trans_code`` itself (§2.3 has clients check it before opening).
    """
    return _open(
        timestamp=envelope.rp_header.timestamp,
        data=envelope.data,
        received_mac=envelope.check_mac_value,
        hash_key=hash_key,
        hash_iv=hash_iv,
        now_unix=now_unix,
        window_seconds=window_seconds,
        max_chars=MAX_REPLY_DATA_CHARS,
        max_string=MAX_REPLY_DATA_CHARS,  # a reply's CsvData is one long string
    )


def _open(
    *,
    timestamp: int,
    data: str,
    received_mac: str,
    hash_key: str,
    hash_iv: str,
    now_unix: int | None,
    window_seconds: int,
    max_chars: int = MAX_DATA_CHARS,
    max_string: int = MAX_DATA_STRING,
) -> OpenedData | EnvelopeFailure:
    if window_seconds < 0:
        raise ValueError("window_seconds must not be negative")
    if now_unix is not None and abs(now_unix - timestamp) > window_seconds:
        return EnvelopeFailure(
            EnvelopeFailureReason.TIMESTAMP_OUT_OF_WINDOW,
            f"Timestamp is {now_unix - timestamp:+d} s from server time; allowed is ±{window_seconds} s",
        )
    try:
        plaintext = decrypt_data(data, hash_key, hash_iv)
    except DataDecryptError:
        return EnvelopeFailure(EnvelopeFailureReason.DECRYPT_FAILED, "Data could not be decrypted")
    if not verify_check_mac_value(plaintext, hash_key, hash_iv, received_mac):
        return EnvelopeFailure(EnvelopeFailureReason.CHECKMAC_MISMATCH, "CheckMacValue does not match Data")
    try:
        parsed = _parse_json(plaintext, max_chars, max_string)
    except bounded_json.Rejected as exc:
        return EnvelopeFailure(EnvelopeFailureReason.DATA_NOT_JSON, f"Data is not acceptable JSON: {exc}")
    if not isinstance(parsed, dict):
        return EnvelopeFailure(EnvelopeFailureReason.DATA_NOT_OBJECT, "Data must be a JSON object")
    return OpenedData(plaintext=plaintext, data=parsed)


def _parse_json(plaintext: str, max_chars: int, max_string: int) -> Any:
    """Data is parsed only after its checksum verified, so the caller is known and a refusal can be answered."""
    return bounded_json.loads(plaintext, max_bytes=max_chars, max_depth=MAX_DATA_DEPTH, max_string=max_string)
