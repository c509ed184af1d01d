"""Parsing a message of ecticket.ingest.requests.v1 (shared by every service that answers requests)."""

from __future__ import annotations

from pydantic import ValidationError

from shared.contracts.ingest import IngestRequest
from shared.ids import content_id
from shared.infra.messages import Inbound, Parsed, Unparseable, check_size


def parse_ingest_request(record: Inbound) -> Parsed:
    """The request's identity is its bytes: an exact redelivery is skipped, a re-sent request is decided again
    (and the business rules make that harmless: a used order number, an already written-off ticket)."""
    check_size(record)
    try:
        request = IngestRequest.model_validate_json(record.value)
    except ValidationError as exc:
        raise Unparseable(f"not an ECTicket ingest request: {exc.errors()[0]['msg']}") from exc
    return Parsed(message_id=content_id(record.topic, record.value), body=request)
