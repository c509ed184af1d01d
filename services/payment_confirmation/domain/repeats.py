"""Where a verified payment goes among the order's payments: the first one stands, the same trade again changes
nothing, another genuine trade is a duplicate (pure).

Only payments the processor vouched for come here, so a second trade is real money a consumer paid twice (a double
charge): it is published as a PaymentConfirmed with `duplicate_of`, and the ledger refunds it in full. The first
payment verified stands, whichever trade the processor recorded first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

Order = tuple[str, str]  # (MerchantID, MerchantTradeNo)
T = TypeVar("T")


@dataclass(frozen=True)
class OrderPayments:
    """The verified payments recorded for an order: the one that stands, and the duplicates."""

    standing: str  # its TradeNo
    duplicates: frozenset[str] = field(default_factory=frozenset)

    def __contains__(self, trade_no: object) -> bool:
        return trade_no == self.standing or trade_no in self.duplicates


@dataclass(frozen=True)
class First:
    """The order's first verified payment: it stands."""


@dataclass(frozen=True)
class Repeat:
    """A trade already recorded for the order, again: nothing changes."""


@dataclass(frozen=True)
class Duplicate:
    """Another genuine trade for an order already paid by `of`."""

    of: str


Place = First | Repeat | Duplicate


def place(known: OrderPayments | None, trade_no: str) -> Place:
    if known is None:
        return First()
    if trade_no in known:
        return Repeat()
    return Duplicate(known.standing)


def place_all(payments: Sequence[tuple[T, Order, str]], known: Mapping[Order, OrderPayments]) -> list[tuple[T, Place]]:
    """`place` each (item, order, TradeNo) in turn, each seeing the ones before it: in one batch, the first
    trade of an order stands and a later one is its duplicate."""
    seen = dict(known)
    placed: list[tuple[T, Place]] = []
    for item, order, trade_no in payments:
        where = place(seen.get(order), trade_no)
        if isinstance(where, First):
            seen[order] = OrderPayments(trade_no)
        elif isinstance(where, Duplicate):
            current = seen[order]
            seen[order] = OrderPayments(current.standing, current.duplicates | {trade_no})
        placed.append((item, where))
    return placed
