"""Validating the Data of an Issue request against the merchant's product catalogue."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, ValidationError

from shared.contracts.catalog import Product, UsagePeriodRule
from shared.contracts.common import RefundFeeRule, TicketType
from shared.contracts.fields import LETTERS_AND_DIGITS, LETTERS_AND_DIGITS_OR_EMPTY, Printable, Yyyymmdd, first_error
from shared.contracts.issuance import OrderDetails
from shared.contracts.rtncodes import RtnCode

MAX_LINES = 20
MAX_TICKETS_PER_ORDER = 1000
# 1,000 tickets of this price is NT$1,000,000,000: every total stays inside the int4 columns (2,147,483,647).
MAX_TICKET_PRICE = 1_000_000
CONVENIENCE_STORE, PAPER, SERIAL_ONLY = "1", "2", "4"
MERCHANT_PRINTS = "2"
# A usage date must lie in [today - DATE_BEHIND, today + DATE_AHEAD]: a voucher valid until 9999-12-31 is a typo
# or an attack, and end-of-day arithmetic on such dates overflows (docs/decisions.md, "Input limits").
DATE_AHEAD = timedelta(days=3660)  # ten years and then some
DATE_BEHIND = timedelta(days=366)
TradeNo = Annotated[str, Field(min_length=1, pattern=LETTERS_AND_DIGITS)]
# Counts and prices are JSON integers: Strict refuses `true` (a bool is an int to Python), "5" and 5.0.
Count = Annotated[int, Strict()]
# ECTicket's own examples send unused fields as "": that counts as not sent.
Blank = BeforeValidator(lambda value: value or None)
OneOf12 = Annotated[Annotated[str, Field(pattern=r"^[12]$")] | None, Blank]
Text = Annotated[Annotated[Printable, Field(max_length=100)] | None, Blank]
Phone = Annotated[Annotated[str, Field(max_length=20, pattern=r"^\+?[0-9]{6,19}$")] | None, Blank]
Email = Annotated[Annotated[str, Field(max_length=100, pattern=r"^[^\s@\x00-\x1f]+@[^\s@\x00-\x1f]+$")] | None, Blank]
# Where the platform will POST notifications; whether it may (no private addresses in production) is checked
# when it does, by the notification service.
NotifyUrl = Annotated[Annotated[str, Field(max_length=200, pattern=r"^https?://[^\s\x00-\x1f]+$")] | None, Blank]


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
    PrintType: OneOf12 = None
    IsImmediate: OneOf12 = None
    StoreID: Annotated[Annotated[str, Field(max_length=20, pattern=LETTERS_AND_DIGITS)] | None, Blank] = None
    CustomerName: Text = None
    CustomerPhone: Phone = None
    CustomerEmail: Email = None
    CustomerAddress: Annotated[Annotated[Printable, Field(max_length=200)] | None, Blank] = None
    RefundNotifyURL: NotifyUrl = None
    UseStatusNotifyURL: NotifyUrl = None

    def details(self) -> OrderDetails:
        return OrderDetails(
            print_type=self.PrintType,
            is_immediate=self.IsImmediate,
            store_id=self.StoreID,
            operator=self.Operator,
            customer_name=self.CustomerName,
            customer_phone=self.CustomerPhone,
            customer_email=self.CustomerEmail,
            customer_address=self.CustomerAddress,
            refund_notify_url=self.RefundNotifyURL,
            use_status_notify_url=self.UseStatusNotifyURL,
        )


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
    details: OrderDetails = OrderDetails()
    # The Issue request is answered when the order is decided (the merchant's `issue_reply` option), not at once
    # when it is accepted. Fixed at acceptance, so each request gets exactly one reply whatever changes later.
    outcome_reply: bool = True

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


def validate(
    data: dict[str, object],
    products: Callable[[str], Product | None],
    today: date,
    *,
    prints_paper: bool = False,
) -> IssueOrder | Invalid:
    """`today` is the Asia/Taipei business date of the request: a usage period may not have ended already.
    `prints_paper`: the merchant has the "merchant prints paper tickets" feature."""
    try:
        request = IssueData.model_validate(data)
    except ValidationError as exc:
        return Invalid(RtnCode.DATA_INVALID, first_error(exc))
    if (request.MerchantTradeNo is None) == (request.FreeTradeNo is None):
        return Invalid(RtnCode.ORDER_NO_CHOICE, "send exactly one of MerchantTradeNo and FreeTradeNo")
    if missing := delivery_fields_missing(request, prints_paper):
        return Invalid(RtnCode.DATA_INVALID, missing)
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
        details=request.details(),
    )
    return _order_rules(order)


def delivery_fields_missing(request: IssueData, prints_paper: bool) -> str | None:
    """§3.1's conditional fields, as far as this platform delivers tickets (docs/decisions.md, "Issue delivery
    fields"): a convenience-store ticket is announced by e-mail; paper tickets are printed by the merchant only."""
    if request.IssueType == CONVENIENCE_STORE and request.CustomerEmail is None:
        return "CustomerEmail is required for a convenience-store ticket (IssueType 1): the pickup notice goes there"
    if request.IssueType != PAPER:
        return None
    if request.PrintType is None:
        return "PrintType is required for paper tickets (IssueType 2)"
    if request.PrintType != MERCHANT_PRINTS:
        return (
            "PrintType 1 (printed and delivered for you) is not offered: send PrintType 2 and print via QueryPrintData"
        )
    if not prints_paper:
        return "PrintType 2 needs the merchant-prints-paper-tickets feature, which this merchant does not have"
    if request.CustomerName is None or request.CustomerAddress is None:
        return "CustomerName and CustomerAddress are required when the merchant prints paper tickets"
    return None


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
