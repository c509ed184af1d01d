"""No stranded money, over generated histories: every payment ends as tickets or as a full refund.

A history is what the platform lives: paid orders that are issued (and their vouchers written off, refunded,
cancelled within the day, expired) or fail for good (before or after their payment arrives), duplicate genuine
payments at any moment, and day ends with a payout run whose transfers a model bank confirms or rejects. The model
bank keeps its own books from the same history (money credited per order, refunds debited, payouts debited per
merchant), and a model of where each voucher's money went; the ledger must agree with them:
- at every day end, per order: escrow + suspense + consumer refund payable + in transit = the bank's money held
  for the order (payments credited - refunds confirmed) - what the order released to the merchant; per merchant:
  payable + fee income + in transit = released - payouts confirmed;
- at the end (a last run, everything confirmed): every order is issued or failed, each failed order's payments
  are all back with the consumer, each issued order's money is the merchant's except what went back to the
  consumer, and the ledger holds nothing;
- any arrival order (with redeliveries) gives the same entries and balances.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.escrow_settlement.domain.accounts import (
    OrderRef,
    consumer_in_transit,
    consumer_refund_payable,
    escrow_held,
    merchant_fee_income,
    merchant_in_transit,
    merchant_payable,
    suspense,
)
from services.escrow_settlement.domain.facts import (
    EscrowExpired,
    Fact,
    IssuedVoucher,
    OrderFailed,
    OrderIssued,
    PaymentReceived,
    PayoutConfirmed,
    PayoutSent,
    RedemptionCancelled,
    RefundTransferConfirmed,
    RefundTransferSent,
    ReturnCancelled,
    TicketFact,
    TicketRedeemed,
    TicketRef,
    TicketReturned,
)
from services.escrow_settlement.domain.payouts import PayoutPolicy, plan
from services.escrow_settlement.domain.state import OrderStatus
from shared.contracts.common import TicketType
from tests.unit.test_ledger_properties import MERCHANTS, START, Run, bank_answer, interleave, replay, voucher_life

pytestmark = pytest.mark.unit

NEVER_WITHHELD = PayoutPolicy(max_rejections=10**6)  # the last run pays everything, however often it was rejected


@dataclass(frozen=True)
class DayEnd:
    """A day ended and its payout run was answered: the point where the ledger must agree with the bank."""


Step = Fact | DayEnd


@dataclass
class Model:
    """The bank's own books and the voucher money's whereabouts, kept from the history, not from the ledger."""

    credited: Counter[OrderRef] = field(default_factory=Counter)  # payments received, duplicates included
    refunded: Counter[OrderRef] = field(default_factory=Counter)  # refund transfers the bank confirmed
    paid_out: Counter[str] = field(default_factory=Counter)  # payouts the bank confirmed, per merchant
    released: Counter[OrderRef] = field(default_factory=Counter)  # face values and fees the merchant earned
    place: dict[tuple[OrderRef, str], str] = field(default_factory=dict)  # voucher -> escrow|merchant|consumer
    fee: dict[tuple[OrderRef, str], int] = field(default_factory=dict)

    def see(self, fact: Fact) -> None:
        if isinstance(fact, PaymentReceived):
            self.credited[fact.order] += fact.amount
        elif isinstance(fact, RefundTransferConfirmed):
            self.refunded[fact.order] += fact.amount
        elif isinstance(fact, PayoutConfirmed):
            self.paid_out[fact.merchant_id] += fact.amount
        elif isinstance(fact, OrderIssued):
            for t in fact.tickets:
                if t.ticket_type is TicketType.PICKUP:
                    self.place[(fact.order, t.ticket_no)] = "escrow"
        elif isinstance(fact, TicketRedeemed | RedemptionCancelled | TicketReturned | ReturnCancelled | EscrowExpired):
            self._voucher(fact)

    def _voucher(self, fact: TicketFact) -> None:
        ticket = fact.ticket
        if ticket.ticket_type is not TicketType.PICKUP or not (fact.within_escrow or isinstance(fact, EscrowExpired)):
            return  # gift vouchers and facts after escrow move no money
        key, face = (ticket.order, ticket.ticket_no), ticket.face_value
        if isinstance(fact, TicketRedeemed | EscrowExpired):
            self.place[key], self.released[ticket.order] = "merchant", self.released[ticket.order] + face
        elif isinstance(fact, RedemptionCancelled):
            self.place[key], self.released[ticket.order] = "escrow", self.released[ticket.order] - face
        elif isinstance(fact, TicketReturned):
            self.place[key], self.fee[key] = "consumer", fact.fee
            self.released[ticket.order] += fact.fee
        else:
            self.place[key] = "escrow"
            self.released[ticket.order] -= self.fee.pop(key)

    def held_for(self, order: OrderRef) -> int:
        """What the bank holds of the order's money: credited, minus what it paid back to the consumer."""
        return self.credited[order] - self.refunded[order]


def paid_order_life(draw: st.DrawFn, index: int) -> list[Fact]:
    """One paid order: issued (its vouchers then live) or failed for good, the failure before or after the payment;
    now and then duplicate genuine payments, at any moment (they say which payment stands)."""
    order = OrderRef(draw(st.sampled_from(MERCHANTS)), f"F{index:04d}")
    faces = draw(st.lists(st.integers(1, 2000), min_size=1, max_size=3))
    payment = PaymentReceived(cause_id=f"{order.key}-p", on=START, order=order, amount=sum(faces))
    duplicates: list[Fact] = [
        PaymentReceived(cause_id=f"{order.key}-d{k}", on=START, order=order, amount=amount, duplicate_of="first")
        for k, amount in enumerate(draw(st.lists(st.integers(1, 3000), max_size=2)))
    ]
    if draw(st.integers(0, 2)) == 0:
        failure = OrderFailed(cause_id=f"{order.key}-f", on=START, order=order, reason="2007: amount mismatch")
        head: list[Fact] = [payment, failure] if draw(st.booleans()) else [failure, payment]
        return interleave(draw, [head, duplicates])
    tickets = [TicketRef(order, f"P{k}", TicketType.PICKUP, face) for k, face in enumerate(faces)]
    vouchers = tuple(IssuedVoucher(t.ticket_no, t.ticket_type, t.face_value) for t in tickets)
    issue = OrderIssued(cause_id=f"{order.key}-i", on=START, order=order, tickets=vouchers,
                        escrow_expiry_date=START + timedelta(days=30))  # fmt: skip
    head = [payment, issue] if draw(st.booleans()) else [issue, payment]
    lives = [voucher_life(draw, t, draw(st.integers(0, t.face_value)), f"{order.key}-{t.ticket_no}") for t in tickets]
    return interleave(draw, [head + interleave(draw, lives), duplicates])


def _cancel_pending(stream: list[Fact]) -> bool:
    """Whether a voucher's next fact in the stream is a cancel: it must come on its fact's business day
    (redemption's cancel window ends with the day), so the day cannot end before it."""
    seen = set[tuple[OrderRef, str]]()
    for fact in stream:
        if isinstance(fact, TicketRedeemed | RedemptionCancelled | TicketReturned | ReturnCancelled | EscrowExpired):
            voucher = (fact.order, fact.ticket.ticket_no)
            if voucher not in seen and isinstance(fact, RedemptionCancelled | ReturnCancelled) and fact.within_escrow:
                return True
            seen.add(voucher)
    return False


@st.composite
def histories(draw: st.DrawFn) -> list[Step]:
    """Steps in causal order: facts, and day ends after each payout run the model bank answered."""
    streams = [paid_order_life(draw, i) for i in range(draw(st.integers(1, 4)))]
    run, steps, day = Run(), list[Step](), START

    def happen(fact: Fact) -> None:
        fact = replace(fact, on=day)
        steps.append(fact)
        run.post(fact)

    def day_end(policy: PayoutPolicy, rejecting: bool) -> None:
        settlement = plan(run.state, day, policy)
        sends: list[PayoutSent | RefundTransferSent] = [*settlement.payouts, *settlement.refunds]
        for sent in sends:
            happen(sent)
            happen(bank_answer(sent, day, rejected=rejecting and draw(st.integers(0, 2)) == 0))
        steps.append(DayEnd())

    while any(streams):
        pick = draw(st.integers(0, len(streams)))
        if pick < len(streams) and streams[pick]:
            happen(streams[pick].pop(0))
        elif pick == len(streams) and not any(_cancel_pending(s) for s in streams):
            day_end(PayoutPolicy(), rejecting=True)
            day += timedelta(days=1)
    day_end(NEVER_WITHHELD, rejecting=False)  # the last run: the bank confirms everything
    return steps


def facts_of(steps: list[Step]) -> list[Fact]:
    return [s for s in steps if not isinstance(s, DayEnd)]


def consumer_side(run: Run, order: OrderRef) -> int:
    accounts = (escrow_held(order), suspense(order), consumer_refund_payable(order), consumer_in_transit(order))
    return sum(run.state.held_in(a) for a in accounts)


def merchant_side(run: Run, merchant_id: str) -> int:
    accounts = (merchant_payable(merchant_id), merchant_fee_income(merchant_id), merchant_in_transit(merchant_id))
    return sum(run.state.held_in(a) for a in accounts)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_at_every_day_end_the_ledger_holds_per_order_what_the_bank_holds_for_it(steps: list[Step]) -> None:
    run, model, orders = Run(), Model(), set[OrderRef]()
    for step in steps:
        if isinstance(step, DayEnd):
            for order in orders:
                expected = model.held_for(order) - model.released[order]
                assert consumer_side(run, order) == expected, order
            for m in MERCHANTS:
                released = sum(v for o, v in model.released.items() if o.merchant_id == m)
                assert merchant_side(run, m) == released - model.paid_out[m], m
            continue
        run.post(step)
        model.see(step)
        if isinstance(step, PaymentReceived):  # every order of a history is paid
            orders.add(step.order)


@settings(max_examples=300, deadline=None)
@given(histories())
def test_every_order_ends_as_tickets_or_as_a_full_refund(steps: list[Step]) -> None:
    run, model = replay(facts_of(steps)), Model()
    for fact in facts_of(steps):
        model.see(fact)
    for book in run.state.orders.values():
        order = book.order
        assert book.status in (OrderStatus.READY, OrderStatus.FAILED), order
        if book.status is OrderStatus.FAILED:
            assert model.held_for(order) == 0 and model.refunded[order] == model.credited[order] > 0
        else:  # the vouchers' money went to the merchant, all else (duplicates, refunds) back to the consumer
            assert model.held_for(order) == model.released[order]
            assert all(model.place[(order, no)] != "escrow" for no in book.tickets)
    assert {a: raw for a, raw in run.state.balances.items() if raw} == {}  # nothing stranded anywhere


@settings(max_examples=300, deadline=None)
@given(histories(), st.data())
def test_any_arrival_order_of_payments_failures_and_duplicates_gives_the_same_ledger(
    steps: list[Step], data: st.DataObject
) -> None:
    history = facts_of(steps)
    causal = replay(history)
    redelivered = data.draw(st.lists(st.sampled_from(history), max_size=5))
    shuffled = replay(data.draw(st.permutations(history + redelivered)))
    assert shuffled.state.balances == causal.state.balances
    assert sorted(e.entry_id for e in shuffled.journal) == sorted(e.entry_id for e in causal.journal)
    assert {e.entry_id: e for e in shuffled.journal} == {e.entry_id: e for e in causal.journal}
    assert shuffled.holders() == causal.holders()


def test_the_model_bank_is_not_the_ledger_a_refund_it_never_confirmed_is_still_held() -> None:
    """A sanity check of the model itself: it counts only what the bank confirmed."""
    order = OrderRef(MERCHANTS[0], "F9999")
    model = Model()
    model.see(PaymentReceived(cause_id="p", on=START, order=order, amount=700))
    model.see(OrderFailed(cause_id="f", on=START, order=order, reason="x"))
    assert model.held_for(order) == 700
    model.see(RefundTransferConfirmed(cause_id="c", on=date(2024, 6, 2), instruction_id=uuid.uuid4(), order=order,
                                      amount=700))  # fmt: skip
    assert model.held_for(order) == 0
