"""Who asked and the one reply each query gets (pure): the ECTicket reply with the query's Data."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.contracts.events import Outgoing, Producer
from shared.contracts.ingest import IngestRequest
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.authentication import Caller
from shared.ecticket.replies import Addressee, reply
from shared.merchants.model import Merchant

PRODUCER = Producer("query")


@dataclass(frozen=True)
class Asker:
    """The reply's addressee with the signer's id instead of its keys: a waiting query is stored with it, so no
    keys reach the database; they are looked up when the reply is built."""

    message_id: uuid.UUID
    request_id: str
    operation: str
    merchant_id: str
    platform_id: str | None
    signer_id: str

    @classmethod
    def of(cls, message_id: uuid.UUID, request: IngestRequest, caller: Caller) -> Asker:
        return cls(
            message_id,
            request.request_id,
            request.operation,
            caller.merchant_id,
            caller.platform_id,
            caller.signer.merchant_id,
        )

    def addressee(self, signer: Merchant | None) -> Addressee:
        return Addressee(self.message_id, self.request_id, self.operation, self.merchant_id, self.platform_id, signer)


@dataclass(frozen=True)
class Answer:
    code: RtnCode
    data: dict[str, Any]
    detail: str | None = None


def answered(asker: Asker, signer: Merchant | None, answer: Answer, now: datetime) -> Outgoing:
    return reply(asker.addressee(signer), answer.code, answer.detail, now, PRODUCER, extra=answer.data)
