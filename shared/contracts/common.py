"""Value types shared by several event payloads."""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NTD = Annotated[int, Field(ge=0, description="whole New Taiwan dollars")]


class TicketType(IntEnum):
    PICKUP = 1
    GIFT = 2


class UseStatus(IntEnum):
    UNUSED = 1
    WRITTEN_OFF = 2
    REFUNDED = 3
    EXPIRED = 4


class IssueStatus(IntEnum):
    SUCCESS = 1
    FAILED = 2
    PROCESSING = 3


class FeeKind(StrEnum):
    NONE = "none"
    FIXED = "fixed"
    PERCENT = "percent"


class RefundFeeRule(BaseModel):
    """The merchant's refund handling fee: a fixed NT$ amount or basis points of face value, capped at face."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: FeeKind = FeeKind.NONE
    amount: NTD = 0
    basis_points: Annotated[int, Field(ge=0, le=10_000)] = 0

    def fee_for(self, face_value: int) -> int:
        if self.kind is FeeKind.FIXED:
            fee = self.amount
        elif self.kind is FeeKind.PERCENT:
            fee = face_value * self.basis_points // 10_000  # round down: never overcharge the consumer
        else:
            fee = 0
        return min(fee, face_value)


def order_key(merchant_id: str, trade_no: str) -> str:
    """Partition key of everything about one order (paid or gift)."""
    return f"{merchant_id}/{trade_no}"
