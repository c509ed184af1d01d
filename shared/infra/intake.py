"""Parsing a message of ecticket.ingest.requests.v1 (shared by every service that answers requests)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from shared import bounded_json
from shared.contracts.ingest import IngestRequest
from shared.ids import content_id
from shared.infra.messages import MAX_MESSAGE_BYTES, Inbound, Parsed, Unparseable, check_size

# An ingest request is {request_id, operation, envelope: {..., RqHeader: {Timestamp}}}: three levels. The envelope's
# Data (base64) is the one long string, bounded only by the message size.
MAX_DEPTH = 4
# request_id and operation are echoed in the reply and stored in text columns: visible ASCII only.
_REQUEST_ID = re.compile(r"[\x21-\x7e]{1,64}")
_OPERATION = re.compile(r"[\x21-\x7e]{1,32}")
# A merchant (or platform) id as the merchant directory knows them; the reply is keyed by it.
_MERCHANT_ID = re.compile(r"[A-Za-z0-9]{1,10}")


def parse_ingest_request(record: Inbound) -> Parsed[IngestRequest]:
    """The request's identity is its bytes: an exact redelivery is skipped, a re-sent request is decided again
    (and the business rules make that harmless: a used order number, an already written-off ticket).

    A request whose reply could not be addressed (no plausible MerchantID) or named (no sane request_id) is not a
    request: it is refused here, so no handler or reply ever sees its text."""
    check_size(record)
    try:
        document = bounded_json.loads(record.value, max_depth=MAX_DEPTH, max_string=MAX_MESSAGE_BYTES)
    except bounded_json.Rejected as exc:
        raise Unparseable(f"not an ECTicket ingest request: {exc}") from None
    if not isinstance(document, dict):
        raise Unparseable("not an ECTicket ingest request: not a JSON object")
    try:
        request = IngestRequest.model_validate(document)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise Unparseable(f"not an ECTicket ingest request: {where}: {error['msg']}") from None
    if not _REQUEST_ID.fullmatch(request.request_id):
        raise Unparseable("request_id must be 1-64 visible ASCII characters")
    if not _OPERATION.fullmatch(request.operation):
        raise Unparseable("operation must be 1-32 visible ASCII characters")
    _check_addressable(request.envelope)
    return Parsed(message_id=content_id(record.topic, record.value), body=request)


def _check_addressable(envelope: dict[str, Any]) -> None:
    """The reply goes to the envelope's MerchantID (and names its PlatformID): both must be plausible ids."""
    merchant_id = envelope.get("MerchantID")
    if not isinstance(merchant_id, str) or not _MERCHANT_ID.fullmatch(merchant_id):
        raise Unparseable("envelope MerchantID is not a merchant id (1-10 letters or digits): no reply can be sent")
    platform_id = envelope.get("PlatformID")
    if platform_id not in (None, "") and not (isinstance(platform_id, str) and _MERCHANT_ID.fullmatch(platform_id)):
        raise Unparseable("envelope PlatformID is not a merchant id (1-10 letters or digits)")
