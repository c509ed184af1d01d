"""Did the merchant acknowledge a notification? (§4: "verify the CheckMacValue and acknowledge with RtnCode 1")

`envelope` (default): HTTP 2xx and the ECTicket response envelope (§2.3) with TransCode 1, sealed with the same
keys as the notification, whose Data has RtnCode 1. `lenient` (a per-merchant option): also a bare `1|OK` (what
ECPay's payment callbacks expect) or a bare JSON `{"RtnCode": 1}`. Anything else is a failure, retried.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from shared.ecticket.envelope import EnvelopeFailure, ResponseEnvelope, open_response
from shared.merchants.model import NotifyAck

MAX_ACK_BYTES = 64 * 1024  # an acknowledgement is a few hundred bytes; more is not read


@dataclass(frozen=True)
class Acknowledged:
    how: str


@dataclass(frozen=True)
class NotAcknowledged:
    detail: str  # for the delivery log: safe to show (never the keys)


def acknowledgement(
    status: int, body: bytes, ack: NotifyAck, hash_key: str, hash_iv: str
) -> Acknowledged | NotAcknowledged:
    if not 200 <= status < 300:
        return NotAcknowledged(f"HTTP {status}")
    if len(body) > MAX_ACK_BYTES:
        return NotAcknowledged(f"answer longer than {MAX_ACK_BYTES} bytes")
    text = body.decode("utf-8", errors="replace").strip()
    if ack is NotifyAck.LENIENT:
        if text == "1|OK":
            return Acknowledged("1|OK")
        bare = _json_object(text)
        if bare is not None and "TransCode" not in bare and _rtn_code_one(bare.get("RtnCode")):
            return Acknowledged("RtnCode 1")
    return _envelope(text, hash_key, hash_iv)


def _envelope(text: str, hash_key: str, hash_iv: str) -> Acknowledged | NotAcknowledged:
    raw = _json_object(text)
    if raw is None:
        return NotAcknowledged(f"answer is not a response envelope: {text[:80]!r}")
    try:
        envelope = ResponseEnvelope.model_validate(raw)
    except ValidationError as exc:
        return NotAcknowledged(f"answer is not a response envelope ({exc.error_count()} field errors)")
    if envelope.trans_code != 1:
        return NotAcknowledged(f"TransCode {envelope.trans_code}")
    opened = open_response(envelope, hash_key, hash_iv)
    if isinstance(opened, EnvelopeFailure):
        return NotAcknowledged(f"answer envelope refused: {opened.message}")
    code = opened.data.get("RtnCode")
    if code != 1 or isinstance(code, bool):  # an integer 1 (§2.3), not "1" nor true
        return NotAcknowledged(f"RtnCode {code!r}")
    return Acknowledged("envelope RtnCode 1")


def _json_object(text: str) -> dict[str, object] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _rtn_code_one(value: object) -> bool:
    return (value == 1 and not isinstance(value, bool)) or value == "1"
