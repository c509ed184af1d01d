"""The product catalogue record (compacted topic owned by issuance, key = MerchantID/ItemNo)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.contracts.common import NTD, RefundFeeRule, TicketType


class UsagePeriodRule(BaseModel):
    """When a gift voucher may be used, relative to its issue date (pickup vouchers have no usage period)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_after_days: Annotated[int, Field(ge=0, le=3650)] = 0
    valid_days: Annotated[int, Field(ge=1, le=3650)] | None = None


class Product(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    merchant_id: str
    item_no: Annotated[str, Field(min_length=1, max_length=8, pattern=r"^[A-Za-z0-9]+$")]
    name: Annotated[str, Field(min_length=1, max_length=100)]
    ticket_type: TicketType
    face_value: NTD
    usage: UsagePeriodRule = UsagePeriodRule()
    # None: the merchant's default rule applies.
    refund_fee_rule: RefundFeeRule | None = None
    listed: bool = True
    updated_at: AwareDatetime

    @model_validator(mode="after")
    def _type_rules(self) -> Product:
        if self.ticket_type is TicketType.PICKUP and self.face_value < 1:
            raise ValueError("a pickup voucher needs a face value of at least NT$1")
        if self.ticket_type is TicketType.GIFT and self.face_value != 0:
            raise ValueError("a gift voucher has no face value")
        if self.ticket_type is TicketType.PICKUP and self.usage.valid_days is not None:
            raise ValueError("a pickup voucher may not be limited by a usage period")
        return self

    def key(self) -> str:
        return f"{self.merchant_id}/{self.item_no}"
