"""The verified Data of a query request -> a query for the core, or Invalid (pure).

Order numbers and ticket codes are letters and digits only (they are looked up in indexed columns); an unused
field may be sent as "" (ECTicket's own examples do), which counts as absent. PageNum defaults to 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from services.query.domain.paging import ITEMS_PER_PAGE, TICKETS_PER_PAGE, Page
from services.query.domain.queries import (
    EscrowDayQuery,
    ItemPageQuery,
    ItemQuery,
    OrderDetailQuery,
    OrderQuery,
    Query,
    TicketQuery,
)
from shared.contracts.fields import LETTERS_AND_DIGITS, first_error

ORDER_OPERATIONS = ("QueryIssueResult", "QueryPrintData", "QueryOrderInfo", "QueryRefundInfo")
OPERATIONS = (*ORDER_OPERATIONS, "QueryTicketStatus", "EscrowDay", "QueryItemInfo", "BatchQueryItemInfo", "OrderDetail")
MAX_PAGE = 100_000
MAX_DAYS = 31  # one OrderDetail file covers at most a month of issue dates


def _blank_is_absent(value: object) -> object:
    return value or None


def _int_text(value: object) -> object:
    return str(value) if type(value) is int else value  # a bool is no ItemStatus


Absent = BeforeValidator(_blank_is_absent)
TradeNo = Annotated[Annotated[str, Field(max_length=25, pattern=LETTERS_AND_DIGITS)] | None, Absent]
FreeNo = Annotated[Annotated[str, Field(max_length=20, pattern=LETTERS_AND_DIGITS)] | None, Absent]
Code = Annotated[Annotated[str, Field(max_length=32, pattern=LETTERS_AND_DIGITS)] | None, Absent]
PageNumber = Annotated[int, Field(ge=1, le=MAX_PAGE, strict=True)]
ItemCode = Annotated[str, Field(min_length=1, max_length=8, pattern=LETTERS_AND_DIGITS)]


class _Data(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OrderData(_Data):
    MerchantTradeNo: TradeNo = None
    FreeTradeNo: FreeNo = None
    PageNum: PageNumber = 1

    @model_validator(mode="after")
    def _one_number(self) -> OrderData:
        if (self.MerchantTradeNo is None) == (self.FreeTradeNo is None):
            raise ValueError("exactly one of MerchantTradeNo and FreeTradeNo is required")
        return self


class TicketStatusData(_Data):
    TicketNo: Code = None
    WriteOffNo: Code = None
    MerchantTradeNo: TradeNo = None
    FreeTradeNo: FreeNo = None
    PageNum: PageNumber = 1

    @model_validator(mode="after")
    def _something(self) -> TicketStatusData:
        if not (self.TicketNo or self.WriteOffNo or self.MerchantTradeNo or self.FreeTradeNo):
            raise ValueError("TicketNo or WriteOffNo (or an order number, for all its tickets) is required")
        if self.MerchantTradeNo and self.FreeTradeNo:
            raise ValueError("at most one of MerchantTradeNo and FreeTradeNo")
        return self


class ItemData(_Data):
    ItemNo: ItemCode


class ItemListEntry(_Data):
    ItemNo: ItemCode


class ItemPageData(_Data):
    PageNum: PageNumber
    ItemStatus: Annotated[Literal["0", "1", "2"], BeforeValidator(_int_text)]
    ItemList: Annotated[list[ItemListEntry], Field(max_length=200)] | None = None


class OrderDetailData(_Data):
    ReportType: Annotated[Literal[1, 2], BeforeValidator(lambda v: int(v) if v in ("1", "2") else v)]
    BeginDate: str
    EndDate: str

    def days(self) -> tuple[date, date]:
        try:
            first, last = _ymd(self.BeginDate), _ymd(self.EndDate)
        except ValueError as exc:
            raise ValueError("BeginDate and EndDate are yyyyMMdd") from exc
        if not first <= last or (last - first).days >= MAX_DAYS:
            raise ValueError(f"BeginDate..EndDate must be in order and span at most {MAX_DAYS} days")
        return first, last


def _ymd(text: str) -> date:
    if len(text) != 8 or not text.isdigit():
        raise ValueError(text)
    return date(int(text[:4]), int(text[4:6]), int(text[6:]))


@dataclass(frozen=True)
class Invalid:
    detail: str


def query_from(operation: str, data: dict[str, Any]) -> Query | Invalid:
    try:
        return _query(operation, data)
    except ValidationError as exc:
        return Invalid(first_error(exc))
    except ValueError as exc:
        return Invalid(str(exc))


def _query(operation: str, data: dict[str, Any]) -> Query:
    if operation in ORDER_OPERATIONS:
        order = OrderData.model_validate(data)
        if operation == "QueryRefundInfo" and order.MerchantTradeNo is None:
            raise ValueError("QueryRefundInfo needs MerchantTradeNo: gift orders have no refunds of money")
        page = Page(order.PageNum, TICKETS_PER_PAGE) if operation == "QueryOrderInfo" else None
        return OrderQuery(
            operation, order.MerchantTradeNo or order.FreeTradeNo or "", order.FreeTradeNo is not None, page
        )
    if operation == "QueryTicketStatus":
        status = TicketStatusData.model_validate(data)
        if status.TicketNo or status.WriteOffNo:
            return TicketQuery(status.TicketNo, status.WriteOffNo)
        trade_no = status.MerchantTradeNo or status.FreeTradeNo or ""
        return OrderQuery(operation, trade_no, status.FreeTradeNo is not None, Page(status.PageNum, TICKETS_PER_PAGE))
    if operation == "EscrowDay":
        return EscrowDayQuery()
    if operation == "QueryItemInfo":
        return ItemQuery(ItemData.model_validate(data).ItemNo)
    if operation == "BatchQueryItemInfo":
        items = ItemPageData.model_validate(data)
        listed = {"0": False, "1": True, "2": None}[items.ItemStatus]
        item_nos = tuple(i.ItemNo for i in items.ItemList or ())
        return ItemPageQuery(Page(items.PageNum, ITEMS_PER_PAGE), listed, item_nos)
    if operation == "OrderDetail":
        detail = OrderDetailData.model_validate(data)
        first, last = detail.days()
        return OrderDetailQuery(detail.ReportType, first, last)
    raise ValueError(f"{operation} is not a query")
