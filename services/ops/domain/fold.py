"""fold(partition state, its orders, a batch of facts) -> the new state and the orders it changed.

Pure: the values in are the table's (JSON), the values out are new ones; nothing read or written elsewhere.
A fact at or before the partition's applied offset is a redelivery (faust delivers at least once) and is skipped,
so a crash between the table write and the offset commit counts nothing twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.ops.domain import money, notices, tickets
from services.ops.domain.facts import Fact, Poison
from services.ops.domain.state import OrderRecord, PartitionState
from services.ops.domain.timeline import order_of, summary
from shared.contracts.issuance import IssueAccepted, IssueFailed, TicketsIssued
from shared.contracts.payments import PaymentAlertRaised, PaymentConfirmed, PaymentRejected
from shared.contracts.redemption import RedemptionRejected, TicketEvent
from shared.contracts.rejections import DeadLetterResolved, MessageRejected
from shared.contracts.settlement import (
    InvariantViolated,
    LedgerAlertRaised,
    LedgerEntryPosted,
    PayoutInstructed,
    RefundInstructed,
    SettlementExceptionRaised,
    TransferConfirmed,
    TransferRejected,
)

TIMELINE_KEPT = 100
# Order records (timelines) kept per source partition, the newest by first event: six partitions hold 12,000
# orders, about 25 MB with the benchmark's orders (2 KB each). The dashboard is the live view: it held every order
# ever seen, and its memory grew with the platform's history. An older order's story is the query API's and the
# audit's.
ORDERS_KEPT = 2000

RATED = {
    "PaymentConfirmed": "payments",
    "TicketsIssued": "orders_issued",
    "TicketWrittenOff": "tickets_written_off",
    "TicketRefunded": "tickets_refunded",
    "RedemptionRejected": "rejections",
    "IssueFailed": "rejections",
    "PaymentRejected": "rejections",
    "MessageRejected": "dead_letters",
}


@dataclass(frozen=True)
class Folded:
    state: dict[str, Any]
    orders: dict[str, dict[str, Any]]  # order key -> its new record, for the orders this batch touched
    applied: int  # facts applied (not redeliveries)
    evicted: list[str]  # order keys whose records the table deletes (beyond the newest `orders_kept`)


def fold(
    raw_state: dict[str, Any] | None,
    raw_orders: Mapping[str, dict[str, Any]],
    facts: Sequence[Fact | Poison],
    orders_kept: int = ORDERS_KEPT,
) -> Folded:
    state = PartitionState.from_json(raw_state)
    orders: dict[str, OrderRecord] = {}
    applied = 0
    for fact in facts:
        if fact.offset <= state.offsets.get(fact.topic, -1):
            continue
        state.offsets[fact.topic] = fact.offset
        applied += 1
        if isinstance(fact, Poison):
            state.add(None, "poison_events")
            continue
        order = _order(fact, raw_orders, orders, state)
        apply(state, order, fact)
        if order is not None:
            _add_to_timeline(order, summary(fact))
    state.drop_old_windows()
    evicted = state.forget_oldest_orders(orders_kept)
    for key in evicted:
        orders.pop(key, None)
    return Folded(state.to_json(), {key: o.to_json() for key, o in orders.items()}, applied, evicted)


def _add_to_timeline(order: OrderRecord, line: dict[str, Any]) -> None:
    """In the order of the events' times: one order's events come from four topics, read in no fixed order."""
    order.events.append(line)
    if len(order.events) > 1 and order.events[-2]["at"] > line["at"]:
        order.events.sort(key=lambda e: str(e["at"]))  # stable: events of the same instant keep their arrival order
    del order.events[:-TIMELINE_KEPT]


def _order(
    fact: Fact, raw: Mapping[str, dict[str, Any]], loaded: dict[str, OrderRecord], state: PartitionState
) -> OrderRecord | None:
    ref = order_of(fact)
    if ref is None:
        return None
    key = f"{ref[0]}/{ref[1]}"
    if key not in loaded:
        if key in raw:
            loaded[key] = OrderRecord.from_json(raw[key])
        else:
            loaded[key] = OrderRecord(*ref)
            state.recent_orders.append(key)
    return loaded[key]


def apply(state: PartitionState, order: OrderRecord | None, fact: Fact) -> None:
    """One event's counters; the order record (if the event is about an order) is updated in place."""
    event = fact.payload
    state.add(None, "events")
    minute = int(fact.occurred_at.timestamp()) // 60
    state.count_in_window(minute, "events")
    rated = RATED.get(fact.event_type)
    if rated is not None:
        state.count_in_window(minute, rated)
    if isinstance(event, PaymentConfirmed | PaymentRejected):
        tickets.on_payment(state, event)
    elif isinstance(event, IssueAccepted | TicketsIssued | IssueFailed):
        tickets.on_issuance(state, order, event)
    elif isinstance(event, TicketEvent | RedemptionRejected):
        tickets.on_ticket(state, event)
    elif isinstance(event, LedgerEntryPosted):
        money.on_entry(state, event)
    elif isinstance(event, SettlementExceptionRaised | LedgerAlertRaised | InvariantViolated | PaymentAlertRaised):
        notices.on_raised(state, event, fact.occurred_at)
    elif isinstance(event, MessageRejected | DeadLetterResolved):
        notices.on_letter(state, event)
    elif isinstance(event, PayoutInstructed | RefundInstructed | TransferConfirmed | TransferRejected):
        money.on_transfer(state, event)
    else:
        state.add(None, f"other:{fact.event_type}")
