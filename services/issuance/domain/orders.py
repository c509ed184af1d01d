"""An order as issuance keeps it: an accepted Issue request, and the one row where it meets its payment."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from services.issuance.domain.join import KnownPayment
from services.issuance.domain.request import IssueOrder
from shared.contracts.common import IssueStatus


@dataclass(frozen=True)
class NewOrder:
    """A validated Issue request, not stored yet: it waits for its payment until `deadline` (if it is paid)."""

    order: IssueOrder
    request_id: str
    message_id: uuid.UUID
    platform_id: str | None
    signer_id: str
    deadline: datetime

    @property
    def key(self) -> tuple[str, str]:
        return self.order.merchant_id, self.order.trade_no


@dataclass(frozen=True)
class OrderRow:
    """Both halves of an order: the request (absent while only the payment has arrived) and the payment."""

    merchant_id: str
    ticket_trade_no: str
    status: IssueStatus | None  # None: only the payment has arrived
    request_id: str
    request_message_id: uuid.UUID
    platform_id: str | None
    signer_id: str
    order: IssueOrder | None
    deadline: datetime | None
    payment: KnownPayment | None
