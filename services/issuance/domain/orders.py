"""An order as issuance keeps it: an accepted Issue request, the one row where it meets its payment, and what a
later request naming a used order number is told."""

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
    door: str | None = None  # the sender whose own request topic it came on (its replies go to the sender's)

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
    claim_deadline: datetime | None = None  # a payment without a request is given up then (unclaimed sweep)
    door: str | None = None  # as NewOrder's


@dataclass(frozen=True)
class UsedOrder:
    """An order number already used, as a later Issue request naming it is answered."""

    trade_no: str
    status: IssueStatus | None
    rtn_code: int | None
    remark: str | None
    paid: bool  # a confirmed payment is recorded for it

    def refusal(self) -> str:
        """Why the number cannot be issued again; a failed order says so, and where its payment went."""
        if self.status is not IssueStatus.FAILED:
            return f"order {self.trade_no} was already submitted"
        refunded = "; its payment is refunded in full to the consumer" if self.paid else ""
        return f"order {self.trade_no} failed for good ({self.rtn_code}: {self.remark}){refunded}"
