"""Validating the Data of an Issue request against the merchant's product catalogue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from shared.contracts.catalog import Product, UsagePeriodRule
from shared.contracts.common import RefundFeeRule, TicketType
from shared.contracts.fields import LETTERS_AND_DIGITS, LETTERS_AND_DIGITS_OR_EMPTY, Printable, Yyyymmdd, first_error
from shared.contracts.rtncodes import RtnCode

MAX_LINES = 20
MAX_TICKETS_PER_ORDER = 1000
# 1,000 tickets of this price is NT$1,000,000,000: every total stays inside the int4 columns (2,147,483,647).
MAX_TICKET_PRICE = 1_000_000
SERIAL_ONLY = "4"
# A usage date must lie in [today - DATE_BEHIND, today + DATE_AHEAD]: a voucher valid until 9999-12-31 is a typo
# or an attack, and end-of-day arithmetic on such dates overflows (docs/decisions.md, "Input limits").
DATE_AHEAD = timedelta(days=3660)  # ten years and then some
DATE_BEHIND = timedelta(days=366)
TradeNo = Annotated[str, Field(min_length=1, pattern=LETTERS_AND_DIGITS)]
# Counts and prices are JSON integers: Strict refuses `true` (a bool is an int to Python), "5" and 5.0.
Count = Annotated[int, Strict()]


class TicketLine(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # As the catalogue spells ItemNo (letters and digits); empty is read as absent by the line rules.
    ItemNo: Annotated[str, Field(max_length=8, pattern=LETTERS_AND_DIGITS_OR_EMPTY)] | None = None
    ItemName: Annotated[Printable, Field(min_length=1, max_length=100)] | None = None
    TicketPrice: Annotated[Count, Field(ge=0, le=MAX_TICKET_PRICE)] | None = None
    TicketAmount: Annotated[Count, Field(ge=1, le=MAX_TICKETS_PER_ORDER)]
    StartDate: Yyyymmdd | None = None
    ExpireDate: Yyyymmdd | None = None


class IssueData(BaseModel):
    """The fields of the Issue Data this platform reads (others, like CustomerName, are kept verbatim)."""

    model_config = ConfigDict(extra="ignore")

    MerchantID: Annotated[str, Field(min_length=1, max_length=10, pattern=LETTERS_AND_DIGITS)]
    MerchantTradeNo: Annotated[TradeNo, Field(max_length=25)] | None = None
    FreeTradeNo: Annotated[TradeNo, Field(max_length=20)] | None = None
    IssueType: Annotated[str, Field(pattern=r"^[1-4]$")]
    Operator: Annotated[Printable, Field(max_length=50)] | None = None
    TicketInfo: Annotated[list[TicketLine], Field(min_length=1, max_length=MAX_LINES)]


class OrderLine(BaseModel):
    """A validated line with the product facts it was accepted under (a later catalogue change won't alter it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_no: str | None
    item_name: str
    ticket_type: TicketType
    face_value: int
    amount: int
    usage: UsagePeriodRule
    start_date: date | None  # explicit dates from the request win over the product's rule
    expire_date: date | None
    refund_fee_rule: RefundFeeRule | None  # the product's own rule; None: the merchant's


class IssueOrder(BaseModel):
    """A validated Issue request; stored as JSON while a paid order waits for its payment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    merchant_id: str
    trade_no: str
    paid: bool  # MerchantTradeNo order (pickup vouchers, needs payment) vs FreeTradeNo (gift only)
    issue_type: str
    lines: tuple[OrderLine, ...]

    @property
    def pickup_total(self) -> int:
        return sum(line.face_value * line.amount for line in self.lines if line.ticket_type is TicketType.PICKUP)

    @property
    def ticket_count(self) -> int:
        return sum(line.amount for line in self.lines)


@dataclass(frozen=True)
class Invalid:
    code: RtnCode
    detail: str


def validate(data: dict[str, object], products: Callable[[str], Product | None], today: date) -> IssueOrder | Invalid:
    """`today` is the Asia/Taipei business date of the request: a usage period may not have ended already."""
    try:
        request = IssueData.model_validate(data)
    except ValidationError as exc:
        return Invalid(RtnCode.DATA_INVALID, first_error(exc))
    if (request.MerchantTradeNo is None) == (request.FreeTradeNo is None):
        return Invalid(RtnCode.ORDER_NO_CHOICE, "send exactly one of MerchantTradeNo and FreeTradeNo")
    lines: list[OrderLine] = []
    for index, raw in enumerate(request.TicketInfo):
        line = _line(raw, request.IssueType, products, today)
        if not isinstance(line, Invalid) and line.expire_date is not None and line.expire_date < today:
            line = Invalid(RtnCode.TICKET_LINES_INVALID, f"ExpireDate {line.expire_date} has passed")
        if isinstance(line, Invalid):
            return Invalid(line.code, f"TicketInfo[{index}]: {line.detail}")
        lines.append(line)
    order = IssueOrder(
        merchant_id=request.MerchantID,
        trade_no=request.MerchantTradeNo or request.FreeTradeNo or "",
        paid=request.MerchantTradeNo is not None,
        issue_type=request.IssueType,
        lines=tuple(lines),
    )
    return _order_rules(order)


def _order_rules(order: IssueOrder) -> IssueOrder | Invalid:
    if order.ticket_count > MAX_TICKETS_PER_ORDER:
        return Invalid(RtnCode.TICKET_LINES_INVALID, f"{order.ticket_count} tickets exceed {MAX_TICKETS_PER_ORDER}")
    has_pickup = any(line.ticket_type is TicketType.PICKUP for line in order.lines)
    if not order.paid and has_pickup:
        return Invalid(RtnCode.GIFT_ORDER_HAS_PICKUP, "a FreeTradeNo order may hold gift vouchers only")
    if order.paid and not has_pickup:
        return Invalid(RtnCode.PAID_ORDER_WITHOUT_PICKUP, "gift-only orders use FreeTradeNo")
    return order


def _line(
    raw: TicketLine, issue_type: str, products: Callable[[str], Product | None], today: date
) -> OrderLine | Invalid:
    dates = _dates(raw, today)
    if isinstance(dates, Invalid):
        return dates
    start, expire = dates
    if issue_type == SERIAL_ONLY and raw.ItemNo is None:
        if raw.ItemName is None or raw.TicketPrice is None:
            return Invalid(RtnCode.TICKET_LINES_INVALID, "serial-number issuance needs ItemName and TicketPrice")
        kind = TicketType.PICKUP if raw.TicketPrice > 0 else TicketType.GIFT
        return _checked(
            OrderLine(
                item_no=None,
                item_name=raw.ItemName,
                ticket_type=kind,
                face_value=raw.TicketPrice,
                amount=raw.TicketAmount,
                usage=UsagePeriodRule(),
                start_date=start,
                expire_date=expire,
                refund_fee_rule=None,
            )
        )
    if not raw.ItemNo:
        return Invalid(RtnCode.TICKET_LINES_INVALID, "ItemNo is required (or IssueType 4 with ItemName/TicketPrice)")
    product = products(raw.ItemNo)
    if product is None:
        return Invalid(RtnCode.ITEM_UNKNOWN, f"ItemNo {raw.ItemNo} is not in the catalogue")
    if not product.listed:
        return Invalid(RtnCode.ITEM_DELISTED, f"ItemNo {raw.ItemNo} is delisted")
    return _checked(
        OrderLine(
            item_no=product.item_no,
            item_name=product.name,
            ticket_type=product.ticket_type,
            face_value=product.face_value,
            amount=raw.TicketAmount,
            usage=product.usage,
            start_date=start,
            expire_date=expire,
            refund_fee_rule=product.refund_fee_rule,
        )
    )


def _checked(line: OrderLine) -> OrderLine | Invalid:
    if line.ticket_type is TicketType.PICKUP and line.expire_date is not None:
        return Invalid(RtnCode.TICKET_LINES_INVALID, "a pickup voucher may not be limited by an ExpireDate")
    return line


def _dates(raw: TicketLine, today: date) -> tuple[date | None, date | None] | Invalid:
    try:
        start = date.fromisoformat(raw.StartDate) if raw.StartDate else None
        expire = date.fromisoformat(raw.ExpireDate) if raw.ExpireDate else None
    except ValueError as exc:
        return Invalid(RtnCode.TICKET_LINES_INVALID, f"bad date: {exc}")
    for name, day in (("StartDate", start), ("ExpireDate", expire)):
        if day is not None and not today - DATE_BEHIND <= day <= today + DATE_AHEAD:
            return Invalid(
                RtnCode.TICKET_LINES_INVALID, f"{name} {day} is not within a year before and ten years after today"
            )
    if start and expire and expire < start:
        return Invalid(RtnCode.TICKET_LINES_INVALID, "ExpireDate is before StartDate")
    return start, expire
