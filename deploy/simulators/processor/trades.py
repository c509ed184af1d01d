"""The processor's trades and what it says about them, pure: checkout requests read from JSON, the AIO result of a
trade, a trade as the batch query answers it, and the reconciliation file (docs/money-trust.md)."""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.clock import TAIPEI
from shared.sandbox.aio import aio_time, payment_result

# What AIO accepts: MerchantID String(10); MerchantTradeNo letters and digits, up to 25 as the ECTicket order number
# it must equal (the platform's own limit, services/payment_confirmation/inbound.py).
_MERCHANT_ID = re.compile(r"[A-Za-z0-9]{1,10}")
_MERCHANT_TRADE_NO = re.compile(r"[A-Za-z0-9]{1,25}")
_PAYMENT_TYPE = re.compile(r"[A-Za-z0-9_]{1,40}")
DEFAULT_PAYMENT_TYPE = "Credit_CreditCard"
MAX_AMOUNT = 1_000_000_000  # far above any order; a bigger number is a mistake, not a payment
# One bulk checkout (a benchmark's orders come in several): enough for any test, small enough for one transaction.
MAX_CHECKOUTS = 10_000
RECON_HEADER = (
    "Seq",
    "MerchantID",
    "MerchantTradeNo",
    "TradeNo",
    "TradeAmt",
    "PaymentType",
    "PaymentDate",
    "CaptureDate",
)


class Invalid(ValueError):
    """A request the processor refuses (HTTP 400), with a message saying why."""


@dataclass(frozen=True)
class Checkout:
    merchant_id: str
    merchant_trade_no: str
    amount: int
    payment_date: datetime | None  # None: now on the merchant's clock
    payment_type: str
    capture: bool
    deliver: bool
    again: bool


@dataclass(frozen=True)
class Order:
    merchant_id: str
    merchant_trade_no: str


@dataclass(frozen=True)
class Trade:
    trade_no: str
    merchant_id: str
    merchant_trade_no: str
    attempt: int
    amount: int
    payment_type: str
    payment_date: datetime
    trade_date: datetime
    captured_at: datetime | None
    capture_seq: int | None

    @property
    def status(self) -> str:
        """AIO TradeStatus: "1" captured (paid), "0" authorised only."""
        return "1" if self.captured_at is not None else "0"


def parse_checkouts(document: object) -> tuple[list[Checkout], bool]:
    """The checkouts of a request body (one object, or an array of them) and whether it was an array."""
    if isinstance(document, dict):
        return [parse_checkout(document)], False
    if not isinstance(document, list) or not document:
        raise Invalid("the body must be a checkout object or a non-empty array of them")
    if len(document) > MAX_CHECKOUTS:
        raise Invalid(f"{len(document)} checkouts exceed the limit of {MAX_CHECKOUTS} per request")
    checkouts = []
    for index, item in enumerate(document):
        try:
            checkouts.append(parse_checkout(item))
        except Invalid as exc:
            raise Invalid(f"checkout {index}: {exc}") from None
    return checkouts, True


def parse_checkout(item: object) -> Checkout:
    if not isinstance(item, dict):
        raise Invalid("a checkout must be a JSON object")
    order = parse_order(item)
    amount = item.get("TotalAmount")
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= MAX_AMOUNT:
        raise Invalid(f"TotalAmount must be a whole number of NT$ from 1 to {MAX_AMOUNT}")
    payment_type = item.get("PaymentType", DEFAULT_PAYMENT_TYPE)
    if not isinstance(payment_type, str) or not _PAYMENT_TYPE.fullmatch(payment_type):
        raise Invalid("PaymentType must be an AIO payment type (letters, digits, _)")
    paid = item.get("PaymentDate")
    if paid is not None and not isinstance(paid, str):
        raise Invalid("PaymentDate must be yyyy/MM/dd HH:mm:ss")
    return Checkout(
        order.merchant_id,
        order.merchant_trade_no,
        amount,
        None if paid is None else parse_aio_time(paid),
        payment_type,
        capture=_flag(item, "Capture", default=True),
        deliver=_flag(item, "Deliver", default=True),
        again=_flag(item, "Again", default=False),
    )


def parse_order(item: Mapping[str, Any]) -> Order:
    merchant_id, trade_no = item.get("MerchantID"), item.get("MerchantTradeNo")
    if not isinstance(merchant_id, str) or not _MERCHANT_ID.fullmatch(merchant_id):
        raise Invalid("MerchantID must be 1-10 letters or digits")
    if not isinstance(trade_no, str) or not _MERCHANT_TRADE_NO.fullmatch(trade_no):
        raise Invalid("MerchantTradeNo must be 1-25 letters or digits")
    return Order(merchant_id, trade_no)


def parse_orders(value: object, limit: int) -> list[Order]:
    """The orders a query asks about: a list of {MerchantID, MerchantTradeNo}, at most `limit`, each once."""
    if not isinstance(value, list):
        raise Invalid("Orders must be a list of {MerchantID, MerchantTradeNo}")
    if len(value) > limit:
        raise Invalid(f"{len(value)} orders exceed the limit of {limit} per query")
    orders: dict[Order, None] = {}
    for item in value:
        if not isinstance(item, dict):
            raise Invalid("each order must be an object {MerchantID, MerchantTradeNo}")
        orders[parse_order(item)] = None
    return list(orders)


def parse_aio_time(text: str) -> datetime:
    """`yyyy/MM/dd HH:mm:ss` in Asia/Taipei, as an aware instant."""
    try:
        return datetime.strptime(text, "%Y/%m/%d %H:%M:%S").replace(tzinfo=TAIPEI)
    except ValueError:
        raise Invalid("PaymentDate must be yyyy/MM/dd HH:mm:ss (Asia/Taipei)") from None


def parse_day(text: str) -> date:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(text)
    raise Invalid("the date must be YYYY-MM-DD")


def parse_after(text: str | None) -> int:
    if text is None:
        return 0
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        raise Invalid("after must be a Seq (a whole number)")
    return int(text)


def _flag(item: Mapping[str, Any], name: str, *, default: bool) -> bool:
    value = item.get(name, default)
    if not isinstance(value, bool):
        raise Invalid(f"{name} must be true or false")
    return value


def result_fields(trade: Trade, hash_key: str, hash_iv: str) -> dict[str, str]:
    """The AIO result ECPay would post to the merchant's ReturnURL for this trade, signed with the merchant's payment
    keys: the same fields (and bytes) however often it is asked for."""
    return payment_result(
        trade.merchant_id,
        trade.merchant_trade_no,
        trade.amount,
        paid_at=trade.payment_date,
        traded_at=trade.trade_date,
        ecpay_trade_no=trade.trade_no,
        payment_type=trade.payment_type,
        key=hash_key,
        iv=hash_iv,
    )


def query_row(trade: Trade) -> dict[str, object]:
    """A trade as the batch query answers it (AIO QueryTradeInfo's fields)."""
    return {
        "MerchantID": trade.merchant_id,
        "MerchantTradeNo": trade.merchant_trade_no,
        "TradeNo": trade.trade_no,
        "TradeAmt": trade.amount,
        "TradeStatus": trade.status,
        "PaymentType": trade.payment_type,
        "PaymentDate": aio_time(trade.payment_date),
        "TradeDate": aio_time(trade.trade_date),
    }


def recon_csv(trades: Iterable[Trade]) -> str:
    """The reconciliation file: one row per captured trade, in capture order."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RECON_HEADER)
    for t in trades:
        assert t.captured_at is not None and t.capture_seq is not None, "only captured trades are reconciled"
        writer.writerow(
            (
                t.capture_seq,
                t.merchant_id,
                t.merchant_trade_no,
                t.trade_no,
                t.amount,
                t.payment_type,
                aio_time(t.payment_date),
                aio_time(t.captured_at),
            )
        )
    return out.getvalue()
