"""Building the one ECTicket reply each request gets (published as a RequestReplied event)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from shared.contracts.events import Outgoing, wrap
from shared.contracts.ingest import IngestRequest, RequestReplied
from shared.contracts.rtncodes import RtnCode, message
from shared.ecticket.envelope import ResponseEnvelope, ResponseHeader, seal_response
from shared.ids import derived_id
from shared.infra.messages import Parsed
from shared.merchants.directory import Caller, Refusal
from shared.merchants.model import Merchant


def reply(
    *,
    message_id: uuid.UUID,
    request_id: str,
    operation: str,
    merchant_id: str,
    platform_id: str | None,
    signer: Merchant | None,
    code: RtnCode,
    detail: str | None,
    now: datetime,
    producer: str,
    envelope_level: bool = False,
    extra: dict[str, Any] | None = None,
) -> Outgoing:
    """The reply, its Data encrypted with the caller's keys when they are known (else Data is empty)."""
    data = {"RtnCode": int(code), "RtnMsg": detail or message(code), **(extra or {})}
    trans_code, trans_msg = (int(code), detail or message(code)) if envelope_level else (1, "Success")
    timestamp = int(now.timestamp())
    if signer is None:
        response = ResponseEnvelope(
            platform_id=platform_id,
            merchant_id=merchant_id[:10],
            rp_header=ResponseHeader(timestamp=timestamp),
            trans_code=trans_code,
            trans_msg=trans_msg[:200],
            data="",
            check_mac_value="",
        )
    else:
        keys = signer.secrets
        response = seal_response(
            data,
            merchant_id,
            platform_id,
            keys.ticket_hash_key.get_secret_value(),
            keys.ticket_hash_iv.get_secret_value(),
            timestamp,
            trans_code=trans_code,
            trans_msg=trans_msg[:200],
        )
    event = RequestReplied(
        request_id=request_id,
        operation=operation,
        merchant_id=merchant_id,
        platform_id=platform_id,
        trans_code=trans_code,
        rtn_code=int(code),
        response=response.to_wire(),
        replied_at=now,
    )
    return wrap(
        event,
        event_id=derived_id(message_id, "reply"),
        occurred_at=now,
        producer=producer,
        correlation_id=request_id,
        causation_id=str(message_id),
    )


def internal_error_reply(parsed: Parsed, owned: Callable[[str], bool], producer: str, now: datetime) -> list[Outgoing]:
    """The reply to a request whose handler failed (it is dead-lettered): TransCode 9999 with empty Data, since
    the failure may have happened before the caller was authenticated. Only the operation's owner replies."""
    request = parsed.body
    if not isinstance(request, IngestRequest) or not owned(request.operation):
        return []
    merchant = _plausible_id(request.envelope.get("MerchantID"))
    platform = _plausible_id(request.envelope.get("PlatformID"))
    return [
        reply(
            message_id=parsed.message_id,
            request_id=request.request_id,
            operation=request.operation,
            merchant_id=merchant or "",
            platform_id=platform,
            signer=None,
            code=RtnCode.INTERNAL_ERROR,
            detail="the request could not be processed; it is kept for the operations team",
            now=now,
            producer=producer,
            envelope_level=True,
        )
    ]


def _plausible_id(value: object) -> str | None:
    """An id from an unauthenticated envelope, only if it could be one: it becomes the reply's Kafka key."""
    if isinstance(value, str) and 0 < len(value) <= 10 and value.isascii() and value.isalnum():
        return value
    return None


def refusal_reply(parsed: Parsed, refusal: Refusal, producer: str, now: datetime) -> Outgoing:
    """The reply to a request its envelope or caller checks refused (shared by every service that answers)."""
    return caller_reply(parsed, refusal, refusal.code, refusal.detail, producer, now, refusal.envelope_level)


def caller_reply(
    parsed: Parsed,
    who: Caller | Refusal,
    code: RtnCode,
    detail: str | None,
    producer: str,
    now: datetime,
    envelope_level: bool = False,
) -> Outgoing:
    """The reply to a request, addressed and sealed for its (authenticated or refused) caller."""
    request: IngestRequest = parsed.body
    return reply(
        message_id=parsed.message_id,
        request_id=request.request_id,
        operation=request.operation,
        merchant_id=who.merchant_id,
        platform_id=who.platform_id,
        signer=who.signer,
        code=code,
        detail=detail,
        now=now,
        producer=producer,
        envelope_level=envelope_level,
    )
