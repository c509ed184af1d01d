"""Bank reconciliation's pure core: an item's status from its two sides and the closed statement days, whatever
the order they arrive in; what a change raises; which orders' money is held back, and how the payout plan keeps
exactly that money back; and the bank simulator's reading of the processor's reconciliation file."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.simulators.bank.recon_file import BadReconFile, parse
from services.escrow_settlement.domain.accounts import (
    OrderRef,
    consumer_refund_payable,
    merchant_fee_income,
    merchant_payable,
)
from services.escrow_settlement.domain.payouts import HeldOrder, plan
from services.escrow_settlement.domain.reconciliation import (
    Closing,
    Direction,
    HoldScope,
    Item,
    ReconciliationKind,
    Side,
    Status,
    UnmatchedPayment,
    holds,
    incomplete,
    reassess,
    status_of,
)
from services.escrow_settlement.domain.state import LedgerState, OrderBook
from services.escrow_settlement.domain.statement import UnmatchedLine, as_csv, build
from services.escrow_settlement.handlers.reconciliation import ledger_item
from shared.contracts.events import wrap
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.settlement import AlertSeverity

pytestmark = pytest.mark.unit

M = "3362787"
DAY, NEXT = date(2024, 6, 10), date(2024, 6, 11)


def ledger(amount: int, on: date = DAY) -> Side:
    return Side(amount, on, "payment-event")


def bank(amount: int, on: date = DAY) -> Side:
    return Side(amount, on, "line-event")


@pytest.mark.parametrize(
    ("ledger_side", "bank_side", "closed", "status"),
    [
        (ledger(500), bank(500), set(), Status.MATCHED),
        (ledger(500), bank(500, NEXT), {DAY}, Status.MATCHED),  # a credit booked a day late still matches
        (ledger(500), bank(450), set(), Status.AMOUNT_DIFFERS),  # at once, no closing needed
        (None, bank(500), set(), Status.OPEN),
        (None, bank(500), {DAY}, Status.BANK_ONLY),
        (None, bank(500), {NEXT}, Status.OPEN),  # another day's closing says nothing about this line
        (ledger(500), None, set(), Status.OPEN),
        (ledger(500), None, {DAY}, Status.LEDGER_ONLY),
        (ledger(500, NEXT), None, {DAY}, Status.OPEN),
    ],
)
def test_an_items_status_follows_from_its_two_sides_and_the_closed_days(
    ledger_side: Side | None, bank_side: Side | None, closed: set[date], status: Status
) -> None:
    assert status_of(ledger_side, bank_side, closed) is status


# One statement day's worth of facts: (what, key, amount). A day's closing comes after its lines (one partition).
Arrival = tuple[str, str, int]
DAY_FACTS: tuple[Arrival, ...] = (
    ("ledger", "credit/A", 500),
    ("bank", "credit/A", 500),  # clean
    ("ledger", "credit/B", 800),  # the bank never received it
    ("ledger", "credit/C", 1200),
    ("bank", "credit/C", 1100),  # the bank booked a wrong amount
    ("bank", "credit/X", 700),  # nobody paid it through the platform
    ("ledger", "debit/P", 300),
    ("bank", "debit/P", 300),
    ("close", "", 0),
)
FINAL = {
    "credit/A": Status.MATCHED,
    "credit/B": Status.LEDGER_ONLY,
    "credit/C": Status.AMOUNT_DIFFERS,
    "credit/X": Status.BANK_ONLY,
    "debit/P": Status.MATCHED,
}


def replay(arrivals: Sequence[Arrival]) -> tuple[dict[str, Status], list[tuple[str, ReconciliationKind]]]:
    """Apply the facts in this order, reassessing what each touches, as the shell does; final statuses and notices."""
    items: dict[str, Item] = {}
    closed: set[date] = set()
    raised = []
    for what, key, amount in arrivals:
        if what == "close":
            closed.add(DAY)
            touched = list(items)
        else:
            direction = Direction.CREDIT if key.startswith("credit") else Direction.DEBIT
            item = items.get(key, Item(key, direction, M))
            side = Side(amount, DAY, f"{what}-{key}")
            items[key] = replace(item, ledger=side) if what == "ledger" else replace(item, bank=side)
            touched = [key]
        for k in touched:
            items[k], notices = reassess(items[k], closed)
            raised += [(k, n.kind) for n in notices]
    return {k: i.status for k, i in items.items()}, raised


@given(st.permutations(DAY_FACTS[:-1]), st.integers(min_value=0, max_value=len(DAY_FACTS) - 1))
def test_lines_before_or_after_the_ledger_facts_reconcile_to_the_same_result(
    order: list[Arrival], ledger_after_close: int
) -> None:
    """The bank's lines come in order with their closing last; the ledger's facts anywhere, even after the close."""
    late = [a for a in order if a[0] == "ledger"][:ledger_after_close]
    arrivals = [*(a for a in order if a not in late), DAY_FACTS[-1], *late]
    statuses, raised = replay(arrivals)
    assert statuses == FINAL
    final_differences = {(k, kind) for k, kind in raised if kind is not ReconciliationKind.CLEARED}
    expected = {
        ("credit/B", ReconciliationKind.LEDGER_ONLY),
        ("credit/C", ReconciliationKind.AMOUNT_DIFFERS),
        ("credit/X", ReconciliationKind.BANK_ONLY),
    }
    assert expected <= final_differences  # every real difference was raised, in every order


def test_a_clean_day_in_any_order_raises_nothing() -> None:
    clean = [f for f in DAY_FACTS if f[1] in ("credit/A", "debit/P", "")]
    for order in itertools.permutations(clean[:-1]):
        statuses, raised = replay([*order, clean[-1]])
        assert set(statuses.values()) == {Status.MATCHED} and raised == []


def test_a_new_difference_is_an_exception_with_a_critical_alert_and_a_later_match_clears_it() -> None:
    item = Item("credit/T1", Direction.CREDIT, M, f"{M}/O1", ledger=ledger(500))
    differs, [notice] = reassess(item, {DAY})
    assert differs.status is Status.LEDGER_ONLY
    assert (notice.kind, notice.severity, notice.exception, notice.subject) == (
        ReconciliationKind.LEDGER_ONLY, AlertSeverity.CRITICAL, True, f"{M}/O1"
    )  # fmt: skip
    matched, [cleared] = reassess(replace(differs, bank=bank(500, NEXT)), {DAY})
    assert matched.status is Status.MATCHED
    assert (cleared.kind, cleared.severity, cleared.exception) == (
        ReconciliationKind.CLEARED, AlertSeverity.NOTICE, False
    )  # fmt: skip
    assert reassess(matched, {DAY, NEXT}) == (matched, ())  # no change, nothing raised twice


def test_a_closing_that_disagrees_with_the_lines_received_is_alerted() -> None:
    said = Closing(DAY, 3, 1500, 300)
    assert incomplete(said, Closing(DAY, 3, 1500, 300)) is None
    notice = incomplete(said, Closing(DAY, 2, 1000, 300))
    assert notice is not None and notice.kind is ReconciliationKind.STATEMENT_INCOMPLETE
    assert "3 line(s)" in notice.detail and "holds 2" in notice.detail


def test_an_unmatched_payment_holds_its_order_and_a_duplicate_only_holds_its_refunds() -> None:
    unmatched = [
        UnmatchedPayment("credit/T1", f"{M}/O1", "pay-1", Status.LEDGER_ONLY),
        UnmatchedPayment("credit/T2", f"{M}/O2", "dup-2", Status.OPEN),  # O2's second genuine payment
        UnmatchedPayment("credit/T3", f"{M}/O3", "dup-3", Status.OPEN),
        UnmatchedPayment("credit/T4", f"{M}/O3", "pay-3", Status.AMOUNT_DIFFERS),  # and O3's first one too
    ]
    held = holds(unmatched, duplicates={"dup-2", "dup-3"})
    assert {k: scope for k, (scope, _) in held.items()} == {
        f"{M}/O1": HoldScope.ORDER, f"{M}/O2": HoldScope.REFUNDS, f"{M}/O3": HoldScope.ORDER
    }  # fmt: skip
    assert "credit/T3 open" in held[f"{M}/O3"][1] and "credit/T4 amount_differs" in held[f"{M}/O3"][1]


def merchant_state(payable: int, fee: int = 0, refunds: dict[str, int] | None = None) -> LedgerState:
    """As the payout run loads it: the merchant's due balances (raw: credit-normal accounts are negative)."""
    balances = {merchant_payable(M): -payable, merchant_fee_income(M): -fee}
    orders = {}
    for trade_no, owed in (refunds or {}).items():
        order = OrderRef(M, trade_no)
        balances[consumer_refund_payable(order)] = -owed
        orders[order.key] = OrderBook(order)
    return LedgerState(orders=orders, balances=balances)


def test_a_held_order_keeps_exactly_its_money_back_and_the_rest_of_the_merchants_money_goes_out() -> None:
    state = merchant_state(payable=1500, fee=80, refunds={"O1": 450, "O2": 200})
    held = {f"{M}/O1": HeldOrder(OrderRef(M, "O1"), payable=1000, fee=50, reason="credit/T1 ledger_only")}
    planned = plan(state, DAY, held=held)
    [payout] = planned.payouts
    assert (payout.payable_part, payout.fee_part, payout.amount) == (500, 30, 530)
    assert [r.order.ticket_trade_no for r in planned.refunds] == ["O2"]  # O1's consumer refund waits too
    assert sorted((c.subject, c.amount) for c in planned.held) == [(f"{M}/O1", 450), (f"{M}/O1", 1050)]
    assert all("credit/T1" in c.reason for c in planned.held)
    unheld = plan(state, DAY)
    assert (unheld.payouts[0].amount, len(unheld.refunds), unheld.held) == (1580, 2, ())


def test_when_all_of_a_merchants_money_is_held_nothing_goes_out_and_nothing_is_owed() -> None:
    state = merchant_state(payable=800)
    held = {f"{M}/O1": HeldOrder(OrderRef(M, "O1"), payable=800, reason="credit/T1 open")}
    planned = plan(state, DAY, held=held)
    assert (planned.payouts, planned.carried) == ((), ())  # not "the merchant owes the platform"
    assert [(c.subject, c.amount) for c in planned.held] == [(f"{M}/O1", 800)]


def test_a_refunds_only_hold_leaves_the_merchant_payout_whole() -> None:
    state = merchant_state(payable=500, refunds={"O2": 300})
    held = {f"{M}/O2": HeldOrder(OrderRef(M, "O2"), reason="credit/T2 open")}  # a duplicate payment
    planned = plan(state, DAY, held=held)
    assert [p.amount for p in planned.payouts] == [500] and planned.refunds == ()
    assert [(c.subject, c.amount) for c in planned.held] == [(f"{M}/O2", 300)]


def test_the_merchant_statement_shows_unmatched_items_and_the_held_amount_before_its_closing() -> None:
    unmatched = (UnmatchedLine("credit/T1", "ledger_only", "O1", 1000, 0),)
    statement = build(M, DAY, {}, [], unmatched, held=1000)
    lines = as_csv(statement).splitlines()
    assert f"{M},{DAY},unmatched,,credit/T1,ledger_only,,O1,,1000,0" in lines
    assert f"{M},{DAY},held,,,,,,,1000," in lines
    assert lines[-1] == f"{M},{DAY},closing,,,,total,,,,0"


RECON_HEADER = "Seq,MerchantID,MerchantTradeNo,TradeNo,TradeAmt,PaymentType,PaymentDate,CaptureDate"


def test_the_bank_reads_each_captured_trade_of_the_reconciliation_file() -> None:
    text = (
        f"{RECON_HEADER}\n"
        "7,3085676,ORDER1,2611260300001,1700,Credit_CreditCard,2026/11/26 11:00:05,2026/11/26 11:00:06\n"
        "9,3085676,ORDER2,2611260300002,300,Credit_CreditCard,2026/11/26 11:01:00,2026/11/26 23:59:59\n"
    )
    first, second = parse(text)
    assert (first.seq, first.merchant_trade_no, first.trade_no, first.amount) == (7, "ORDER1", "2611260300001", 1700)
    assert second.captured_at == datetime(2026, 11, 26, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Taipei
    assert parse(RECON_HEADER + "\n") == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Seq,MerchantID\n1,3085676\n",
        f"{RECON_HEADER}\n1,3085676,ORDER1,T1,abc,Credit_CreditCard,2026/11/26 11:00:05,2026/11/26 11:00:06\n",
        f"{RECON_HEADER}\n1,3085676,ORDER1,T1,0,Credit_CreditCard,2026/11/26 11:00:05,2026/11/26 11:00:06\n",
        f"{RECON_HEADER}\n1,3085676,,T1,100,Credit_CreditCard,2026/11/26 11:00:05,2026/11/26 11:00:06\n",
        f"{RECON_HEADER}\n1,3085676,ORDER1,T1,100,Credit_CreditCard,2026/11/26 11:00:05,tomorrow\n",
        f"{RECON_HEADER}\n1,3085676,ORDER1,T1,100\n",
    ],
)
def test_a_malformed_reconciliation_file_is_refused_whole(text: str) -> None:
    with pytest.raises(BadReconFile):
        parse(text)


def test_the_ledger_expects_a_payment_on_its_own_day_unless_it_learned_it_earlier() -> None:
    """A sandbox merchant's test clock may date a payment days ahead; the bank books it on the real day."""
    now = datetime(2024, 6, 10, 3, tzinfo=UTC)
    for paid_at, expected in ((now, DAY), (now + timedelta(days=30), DAY), (now - timedelta(days=2), date(2024, 6, 8))):
        event = PaymentConfirmed(merchant_id=M, merchant_trade_no="O1", trade_no="T1", amount=500,
                                 payment_type="Credit_CreditCard", payment_date=paid_at, simulated=True)  # fmt: skip
        out = wrap(
            event, event_id=uuid.uuid4(), occurred_at=now, producer="test", correlation_id="c", causation_id=None
        )
        item = ledger_item(out.envelope, now)
        assert item is not None and item.ledger is not None
        assert (item.key, item.order_key, item.ledger.amount, item.ledger.on) == ("credit/T1", f"{M}/O1", 500, expected)
