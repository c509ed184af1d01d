"""Shapes of the ingestion topics: merchant requests in, ECTicket replies out."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.events import Event, register
from shared.topics import INGEST_REPLIES


class IngestRequest(BaseModel):
    """One message on ecticket.ingest.requests.v1: an ECTicket request envelope plus routing facts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_id: Annotated[str, Field(min_length=1, max_length=64)]
    operation: Annotated[str, Field(min_length=1, max_length=32)]
    # The ECTicket request envelope exactly as the merchant sent it (PlatformID, MerchantID, RqHeader, ...).
    envelope: dict[str, Any]


@register
class RequestReplied(Event):
    """The one reply to a request; `response` is the ECTicket response envelope (encrypted Data)."""

    event_type = "RequestReplied"
    topic = INGEST_REPLIES

    request_id: str
    operation: str
    merchant_id: str
    platform_id: str | None
    trans_code: int
    rtn_code: int
    response: dict[str, Any]
    replied_at: AwareDatetime

    def key(self) -> str:
        return self.merchant_id
