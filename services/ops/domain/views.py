"""The dashboard's numbers: the partition states summed, the headline figures, the rate series (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.ops.domain.state import OVERALL, Counters

SERIES = (
    "events",
    "payments",
    "orders_issued",
    "tickets_written_off",
    "tickets_refunded",
    "rejections",
    "dead_letters",
)
CHART_MINUTES = 30
REJECTED = "rejected:"


def merge(states: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Every partition's counters, windows, notices and open dead letters together."""
    counters: dict[str, Counters] = {}
    rates: dict[int, Counters] = {}
    notices: list[dict[str, Any]] = []
    letters: dict[str, dict[str, Any]] = {}
    for state in states:
        for scope, values in state["counters"].items():
            _sum_into(counters.setdefault(scope, {}), values)
        for window, values in state["rates"].items():
            _sum_into(rates.setdefault(int(window), {}), values)
        notices.extend(state["notices"])
        letters.update(state["open_letters"])
    notices.sort(key=lambda n: n["at"], reverse=True)
    return {"counters": counters, "rates": rates, "notices": notices[:50], "open_letters": letters}


def _sum_into(total: Counters, values: Counters) -> None:
    for name, value in values.items():
        total[name] = total.get(name, 0) + value


def headline(counters: Counters) -> dict[str, int]:
    """The figures on top of the page. Escrow held is the balance of the escrow accounts (in - out)."""

    def c(name: str) -> int:
        return counters.get(name, 0)

    return {
        "orders_issued": c("orders_issued"),
        "orders_issued_amount": c("orders_issued_amount"),
        "tickets_issued": c("tickets_issued"),
        "tickets_issued_amount": c("tickets_issued_amount"),
        "tickets_written_off": c("tickets_written_off"),
        "tickets_written_off_amount": c("tickets_written_off_amount"),
        "tickets_refunded": c("tickets_refunded"),
        "tickets_refunded_amount": c("tickets_refunded_amount"),
        "tickets_expired": c("tickets_expired"),
        "tickets_expired_amount": c("tickets_expired_amount"),
        "issue_waiting": c("issue_waiting"),
        "escrow_held": c("ledger.escrow_held.in") - c("ledger.escrow_held.out"),
        "escrow_received": c("ledger.escrow_held.in"),
        "released_to_merchants": c("ledger.merchant_payable.in"),
        "fees": c("ledger.merchant_fee_income.in"),
        "paid_out": c("payouts_confirmed_amount"),
        "refunded_to_consumers": c("refunds_confirmed_amount"),
        "suspense_held": c("ledger.suspense.in") - c("ledger.suspense.out"),
        "settlement_exceptions": c("settlement_exceptions"),
        "alerts": c("ledger_alerts") + c("payment_alerts"),
        "quarantines": c("quarantines"),
        "dead_letters": c("dead_letters"),
        "dead_letters_open": c("dead_letters") - c("dead_letters_resolved"),
    }


def rejections(counters: Counters) -> dict[str, int]:
    """Refusals by reason: `rtn:<RtnCode>` (Issue, WriteOff, Refund) and `payment:<reason>`."""
    return {name[len(REJECTED) :]: value for name, value in sorted(counters.items()) if name.startswith(REJECTED)}


def series(rates: dict[int, Counters], now_minute: int) -> dict[str, Any]:
    """The last CHART_MINUTES tumbling windows up to `now_minute`, missing windows as zero."""
    windows = list(range(now_minute - CHART_MINUTES + 1, now_minute + 1))
    return {
        "windows": [w * 60 for w in windows],  # window starts, epoch seconds
        "series": {name: [rates.get(w, {}).get(name, 0) for w in windows] for name in SERIES},
    }


def scope_view(merged: dict[str, Any], scope: str = OVERALL) -> dict[str, Any]:
    counters = merged["counters"].get(scope, {})
    return {"counters": counters, "headline": headline(counters), "rejections": rejections(counters)}


def merchants(merged: dict[str, Any]) -> list[dict[str, Any]]:
    """Every merchant seen, busiest first, with its headline figures."""
    rows = [{"merchant_id": scope, **headline(c)} for scope, c in merged["counters"].items() if scope != OVERALL]
    return sorted(rows, key=lambda r: (-r["orders_issued"], r["merchant_id"]))
