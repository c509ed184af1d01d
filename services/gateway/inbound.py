"""What the gateway takes in, read (pure: no I/O, no clock): an HTTP request body -> the ingest message to forward,
or the gateway's own refusal; an AIO payment-result callback -> its fields.

The gateway decides nothing an owning service decides: it refuses only what no service could answer (a body that
is not a JSON object, no plausible MerchantID), using the very parser every service reads the ingestion topic with
(`shared.infra.intake.parse_ingest_request`), so the HTTP path and the Kafka path cannot disagree about what is a
request. Everything else, envelope security included, is forwarded and answered by its owner.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from shared import bounded_json
from shared.contracts.operations import OWNERS
from shared.infra.intake import MAX_DEPTH, parse_ingest_request
from shared.infra.messages import MAX_MESSAGE_BYTES, Inbound, Unparseable
from shared.topics import INGEST_REQUESTS

# The twelve operations of §3, served at /api/Ticket/<Operation>; anything else is an unknown path (HTTP 404).
OPERATIONS = frozenset(OWNERS)
REQUEST_ID_PREFIX = "http-"


@dataclass(frozen=True)
class Forward:
    """The ingest message for a request: its id (derived from the request itself), bytes and Kafka key."""

    request_id: str
    operation: str
    merchant_id: str
    value: bytes


@dataclass(frozen=True)
class Malformed:
    """A body no service could answer: the caller gets TransCode 9001 with this reason."""

    reason: str
    merchant_id: str


def request_id_of(secret: bytes, operation: str, canonical_envelope: bytes) -> str:
    """The same request (operation and envelope) always gets the same id, so a replay is forwarded as the very
    bytes the services' inbox has already seen and is never decided twice. Keyed (HMAC), so nobody without the
    platform's key can predict the id of another merchant's request and answer it on the reply topic first."""
    digest = hmac.new(secret, operation.encode() + b"\n" + canonical_envelope, hashlib.sha256).hexdigest()
    return REQUEST_ID_PREFIX + digest[:40]


def forward(secret: bytes, operation: str, body: bytes) -> Forward | Malformed:
    """`body` (already within the size limit) as the message to put on the ingestion topic, or why not."""
    try:
        envelope = bounded_json.loads(body, max_depth=MAX_DEPTH - 1, max_string=MAX_MESSAGE_BYTES)
    except bounded_json.Rejected as exc:
        return Malformed(f"the body is not acceptable JSON: {exc}", "")
    if not isinstance(envelope, dict):
        return Malformed("the body must be a JSON object: the ECTicket request envelope", "")
    merchant = envelope.get("MerchantID")
    merchant_id = merchant if isinstance(merchant, str) and merchant.isascii() and merchant.isalnum() else ""
    canonical = _canonical(envelope)
    request_id = request_id_of(secret, operation, canonical)
    value = b'{"request_id":"%s","operation":"%s","envelope":%s}' % (request_id.encode(), operation.encode(), canonical)
    try:
        parse_ingest_request(Inbound(INGEST_REQUESTS, 0, 0, None, value, 0))
    except Unparseable as exc:
        return Malformed(_for_http(str(exc)), merchant_id[:10])
    return Forward(request_id, operation, merchant_id, value)


def _canonical(envelope: dict[str, Any]) -> bytes:
    """Key order and white space are not part of a request's identity: a client that re-serialises its envelope
    before resending it still sends the same request."""
    return json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _for_http(reason: str) -> str:
    """The intake parser speaks of ingest messages; an HTTP caller sent only the envelope."""
    return reason.removeprefix("not an ECTicket ingest request: ").replace("envelope ", "", 1)
