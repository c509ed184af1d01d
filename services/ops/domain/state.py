"""The state of one source partition: every counter the events of that partition moved, in one table value.

Why one value per source partition rather than a key per counter: faust writes a table change to the changelog
partition of the event being processed, so a key written from several source partitions ("all orders") would be
recovered from whichever changelog partition is replayed last. A value per partition, with the offset it has
applied inside it, recovers exactly and lets a redelivered record be recognised (its offset is not past it).
The dashboard sums the partitions (`views.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OVERALL = "*"  # the scope of the platform-wide counters; a merchant's scope is its MerchantID
RATE_MINUTES = 60  # tumbling one-minute windows kept per partition
NOTICES_KEPT = 50

Counters = dict[str, int]


@dataclass
class PartitionState:
    offsets: dict[str, int] = field(default_factory=dict)  # source topic -> last offset applied
    counters: dict[str, Counters] = field(default_factory=dict)  # scope -> counter name -> value
    rates: dict[str, Counters] = field(default_factory=dict)  # window start (epoch minute) -> name -> count
    notices: list[dict[str, Any]] = field(default_factory=list)  # settlement exceptions, alerts, quarantines
    open_letters: dict[str, dict[str, Any]] = field(default_factory=dict)  # dead letters not resolved yet
    # The order records of this partition, oldest first: the table keeps the newest few thousand (fold.ORDERS_KEPT).
    recent_orders: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "offsets": self.offsets,
            "counters": self.counters,
            "rates": self.rates,
            "notices": self.notices,
            "open_letters": self.open_letters,
            "recent_orders": self.recent_orders,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> PartitionState:
        """A copy the fold may change (the table keeps the value it holds until the new one is written)."""
        if not raw:
            return cls()
        return cls(
            offsets=dict(raw["offsets"]),
            counters={scope: dict(values) for scope, values in raw["counters"].items()},
            rates={window: dict(values) for window, values in raw["rates"].items()},
            notices=list(raw["notices"]),
            open_letters=dict(raw["open_letters"]),
            recent_orders=list(raw.get("recent_orders", ())),  # absent in states written before the bound
        )

    def add(self, merchant_id: str | None, name: str, amount: int = 1) -> None:
        for scope in (OVERALL, merchant_id) if merchant_id else (OVERALL,):
            counters = self.counters.setdefault(scope, {})
            counters[name] = counters.get(name, 0) + amount

    def count_in_window(self, minute: int, name: str) -> None:
        window = self.rates.setdefault(str(minute), {})
        window[name] = window.get(name, 0) + 1

    def drop_old_windows(self) -> None:
        if len(self.rates) <= RATE_MINUTES:
            return
        for window in sorted(self.rates, key=int)[:-RATE_MINUTES]:
            del self.rates[window]

    def forget_oldest_orders(self, kept: int) -> list[str]:
        """The order records beyond the newest `kept`, taken off the list: the table deletes them."""
        excess = len(self.recent_orders) - kept
        if excess <= 0:
            return []
        gone = self.recent_orders[:excess]
        del self.recent_orders[:excess]
        return gone

    def notice(self, entry: dict[str, Any]) -> None:
        self.notices.append(entry)
        del self.notices[:-NOTICES_KEPT]


@dataclass
class OrderRecord:
    """One order's timeline (for the drill-down) and whether its Issue request still waits for payment."""

    merchant_id: str
    trade_no: str
    waiting: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "merchant_id": self.merchant_id,
            "trade_no": self.trade_no,
            "waiting": self.waiting,
            "events": self.events,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> OrderRecord:
        return cls(raw["merchant_id"], raw["trade_no"], raw["waiting"], list(raw["events"]))
