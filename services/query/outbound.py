"""Who asked and the one reply each query gets (pure): the ECTicket reply with the query's Data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.contracts.events import Outgoing, Producer
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.replies import Asker, reply
from shared.merchants.model import Merchant

PRODUCER = Producer("query")


@dataclass(frozen=True)
class Answer:
    code: RtnCode
    data: dict[str, Any]
    detail: str | None = None


def answered(asker: Asker, signer: Merchant | None, answer: Answer, now: datetime) -> Outgoing:
    return reply(asker.addressee(signer), answer.code, answer.detail, now, PRODUCER, extra=answer.data)
