"""The core's state as JSON (pure): order books, transfer books and facts, for the jsonb columns.

Facts are tagged with their class name (several fact types have the same fields, so the shape alone cannot say
which one it is). A book carries a format version `v`; a reader refuses a version it does not know rather than
guess, so an old process never rewrites a newer book.
"""

from __future__ import annotations

from typing import Any, cast, get_args

from pydantic import TypeAdapter
from pydantic_core import from_json, to_json

from services.escrow_settlement.domain.accounts import OrderRef
from services.escrow_settlement.domain.facts import (
    Fact,
    OrderFailed,
    OrderIssued,
    PaymentReceived,
    TicketFact,
    TransferOutcome,
    TransferSent,
)
from services.escrow_settlement.domain.state import Holder, OrderBook, TicketBook, TransferBook

FORMAT = 2  # 2: an order book's `failed` fact, and a payment's `duplicate_of` (issue 10)
READABLE = frozenset({1, FORMAT})  # a version-1 book is a version-2 book without a failure
# Every fact type, by class name, straight from the `Fact` union: a new fact type needs no entry here.
FACT_TYPES: dict[str, type[Any]] = {cls.__name__: cls for cls in get_args(Fact)}


_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {cls: TypeAdapter(cls) for cls in FACT_TYPES.values()}


def _adapter(cls: type[Any]) -> TypeAdapter[Any]:
    return _ADAPTERS[cls]


def fact_json(fact: Fact) -> dict[str, Any]:
    return {"type": type(fact).__name__, **_adapter(type(fact)).dump_python(fact, mode="json")}


def fact_of(data: dict[str, Any]) -> Fact:
    fields = dict(data)
    cls = FACT_TYPES[fields.pop("type")]
    return cast(Fact, _adapter(cls).validate_python(fields))


def _optional(fact: Fact | None) -> dict[str, Any] | None:
    return None if fact is None else fact_json(fact)


def _check_format(data: dict[str, Any]) -> None:
    if data.get("v") not in READABLE:
        raise ValueError(f"book format {data.get('v')!r} is not one of {sorted(READABLE)}: written by a newer version?")


def _text(data: dict[str, Any]) -> str:
    # pydantic's JSON (Rust) rather than the json module's: about half the time to write a book, a fifth less to read
    # one (docs/benchmarks.md, "Order books written and read by pydantic's JSON"). Stored as jsonb, so the spacing and
    # escaping it leaves out do not reach the database.
    return to_json(data).decode()


def order_book_json(book: OrderBook) -> str:
    return _text(order_book_data(book))


def order_book_data(book: OrderBook) -> dict[str, Any]:
    return {
        "v": FORMAT,
        "order": [book.order.merchant_id, book.order.ticket_trade_no],
        "payment": _optional(book.payment),
        "extra_payments": [fact_json(p) for p in book.extra_payments],
        "issued": _optional(book.issued),
        "failed": _optional(book.failed),
        "tickets": {no: [t.face, t.holder.value, t.fee, t.refund_amount] for no, t in book.tickets.items()},
        "parked": [fact_json(f) for f in book.parked],
        "held": [fact_json(f) for f in book.held],
        "seen": sorted(book.seen),
    }


def order_book_of(text: str) -> OrderBook:
    return order_book_from(from_json(text))


def order_book_from(data: dict[str, Any]) -> OrderBook:
    _check_format(data)
    return OrderBook(
        order=OrderRef(*data["order"]),
        payment=cast(PaymentReceived | None, data["payment"] and fact_of(data["payment"])),
        extra_payments=tuple(cast(PaymentReceived, fact_of(p)) for p in data["extra_payments"]),
        issued=cast(OrderIssued | None, data["issued"] and fact_of(data["issued"])),
        failed=cast(OrderFailed | None, data.get("failed") and fact_of(data["failed"])),
        tickets={
            no: TicketBook(face, Holder(holder), fee, amount)
            for no, (face, holder, fee, amount) in data["tickets"].items()
        },
        parked=tuple(cast(TicketFact, fact_of(f)) for f in data["parked"]),
        held=tuple(cast(TicketFact, fact_of(f)) for f in data["held"]),
        seen=frozenset(data["seen"]),
    )


def transfer_book_json(book: TransferBook) -> str:
    data = {
        "v": FORMAT,
        "sent": _optional(book.sent),
        "settled": _optional(book.settled),
        "parked": [fact_json(f) for f in book.parked],
        "seen": sorted(book.seen),
    }
    return _text(data)


def transfer_book_of(text: str) -> TransferBook:
    data = from_json(text)
    _check_format(data)
    return TransferBook(
        sent=cast(TransferSent | None, data["sent"] and fact_of(data["sent"])),
        settled=cast(TransferOutcome | None, data["settled"] and fact_of(data["settled"])),
        parked=tuple(cast(TransferOutcome, fact_of(f)) for f in data["parked"]),
        seen=frozenset(data["seen"]),
    )
