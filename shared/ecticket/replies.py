"""Building the one ECTicket reply each request gets (published as a RequestReplied event)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.contracts.events import Outgoing, Producer
from shared.contracts.ingest import IngestRequest, RequestReplied
from shared.contracts.operations import owner_of
from shared.contracts.rtncodes import RtnCode, message
from shared.ecticket.authentication import Caller, Refusal
from shared.ecticket.envelope import ResponseEnvelope, ResponseHeader, seal_response
from shared.ids import derived_id
from shared.merchants.model import Merchant
from shared.topics import reply_topic, sender_of


@dataclass(frozen=True)
class Addressee:
    """Who asked, with which keys, which request: what a reply is addressed to and sealed with."""

    message_id: uuid.UUID  # the request message (the reply's id derives from it)
    request_id: str
    operation: str
    merchant_id: str
    platform_id: str | None  # PlatformID as the request gave it (the reply envelope echoes it)
    signer: Merchant | None  # whose keys sealed the request; None: not authenticated, Data stays empty
    door: str | None = None  # the sender whose own topic the request came on: the reply goes to its own too

    @classmethod
    def of(cls, message_id: uuid.UUID, request: IngestRequest, who: Caller | Refusal) -> Addressee:
        """The caller of a request, authenticated or refused."""
        return cls(
            message_id, request.request_id, request.operation, who.merchant_id, who.platform_id, who.signer, who.door
        )

    @classmethod
    def unauthenticated(cls, message_id: uuid.UUID, request: IngestRequest, door: str | None) -> Addressee:
        """The sender as its envelope names it, for an answer given before (or without) authenticating it."""
        merchant = _plausible_id(request.envelope.get("MerchantID"))
        platform = _plausible_id(request.envelope.get("PlatformID"))
        return cls(message_id, request.request_id, request.operation, merchant or "", platform, None, door)


@dataclass(frozen=True)
class Asker:
    """The reply's `Addressee` with the signer's id instead of its keys: a request parked until it can be answered
    (redemption's `pending_requests`, query's `waiting_queries`) is stored with it, so no keys reach those tables;
    they are looked up when the reply is built."""

    message_id: uuid.UUID
    request_id: str
    operation: str
    merchant_id: str
    platform_id: str | None  # PlatformID as the request gave it (the reply envelope echoes it)
    signer_id: str  # whose keys sealed the request, so the reply is sealed with them
    door: str | None = None  # as Addressee's

    @classmethod
    def of(cls, message_id: uuid.UUID, request: IngestRequest, caller: Caller) -> Asker:
        return cls(
            message_id=message_id,
            request_id=request.request_id,
            operation=request.operation,
            merchant_id=caller.merchant_id,
            platform_id=caller.platform_id,
            signer_id=caller.signer.merchant_id,
            door=caller.door,
        )

    def addressee(self, signer: Merchant | None) -> Addressee:
        """The reply's addressee, `signer` being `signer_id` as the merchants view has it now (None: unsealed)."""
        return Addressee(
            self.message_id, self.request_id, self.operation, self.merchant_id, self.platform_id, signer, self.door
        )


def reply(
    to: Addressee,
    code: RtnCode,
    detail: str | None,
    now: datetime,
    producer: Producer,
    *,
    envelope_level: bool = False,
    extra: dict[str, Any] | None = None,
) -> Outgoing:
    """The reply, its Data encrypted with the caller's keys when they are known (else Data is empty)."""
    data = {"RtnCode": int(code), "RtnMsg": detail or message(code), **(extra or {})}
    trans_code, trans_msg = (int(code), detail or message(code)) if envelope_level else (1, "Success")
    timestamp = int(now.timestamp())
    if to.signer is None:
        response = ResponseEnvelope(
            platform_id=to.platform_id,
            merchant_id=to.merchant_id[:10],
            rp_header=ResponseHeader(timestamp=timestamp),
            trans_code=trans_code,
            trans_msg=trans_msg[:200],
            data="",
            check_mac_value="",
        )
    else:
        keys = to.signer.secrets
        response = seal_response(
            data,
            to.merchant_id,
            to.platform_id,
            keys.ticket_hash_key.get_secret_value(),
            keys.ticket_hash_iv.get_secret_value(),
            timestamp,
            trans_code=trans_code,
            trans_msg=trans_msg[:200],
        )
    event = RequestReplied(
        request_id=to.request_id,
        operation=to.operation,
        merchant_id=to.merchant_id,
        platform_id=to.platform_id,
        trans_code=trans_code,
        rtn_code=int(code),
        response=response.to_wire(),
        replied_at=now,
    )
    return producer.event(
        event,
        derived_id(to.message_id, "reply"),
        now,
        correlation_id=to.request_id,
        causation_id=str(to.message_id),
        topic=reply_topic(to.door),
    )


def refusal_reply(to: Addressee, refusal: Refusal, now: datetime, producer: Producer) -> Outgoing:
    """The reply to a request its envelope or caller checks refused (shared by every service that answers)."""
    return reply(to, refusal.code, refusal.detail, now, producer, envelope_level=refusal.envelope_level)


def internal_error_reply(
    message_id: uuid.UUID, request: IngestRequest, producer: Producer, now: datetime, *, topic: str
) -> list[Outgoing]:
    """The reply to a request whose handler failed (it is dead-lettered): TransCode 9999 with empty Data, since
    the failure may have happened before the caller was authenticated. Only the operation's owner replies."""
    if owner_of(request.operation) != producer.name:
        return []
    detail = "the request could not be processed; it is kept for the operations team"
    to = Addressee.unauthenticated(message_id, request, sender_of(topic))
    return [reply(to, RtnCode.INTERNAL_ERROR, detail, now, producer, envelope_level=True)]


def _plausible_id(value: object) -> str | None:
    """An id from an unauthenticated envelope, only if it could be one: it becomes the reply's Kafka key."""
    if isinstance(value, str) and 0 < len(value) <= 10 and value.isascii() and value.isalnum():
        return value
    return None
