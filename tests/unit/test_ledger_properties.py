"""Properties of the escrow ledger over generated histories.

A history is generated the way the platform lives it: per order a payment and an issuance, then for each voucher a
redemption life (write-offs, refunds, their cancellations, escrow expiry, after-escrow facts), interleaved across
orders, with payout runs in between whose instructions the bank confirms or rejects. Then:
- the invariants hold after every single fact, in causal order and in any other order;
- the shuffle property: every permutation of the facts (with redeliveries) ends with the same balances, the same
  set of entry ids and the same place for every voucher's money.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.escrow_settlement.domain.accounts import BANK_CASH, OrderRef
from services.escrow_settlement.domain.facts import (
    EscrowExpired,
    Fact,
    IssuedVoucher,
    OrderIssued,
    PaymentReceived,
    PayoutConfirmed,
    PayoutRejected,
    PayoutSent,
    RedemptionCancelled,
    RefundTransferConfirmed,
    RefundTransferRejected,
    RefundTransferSent,
    ReturnCancelled,
    TicketRedeemed,
    TicketRef,
    TicketReturned,
    UsageExpired,
)
from services.escrow_settlement.domain.invariants import check_ledger, check_state
from services.escrow_settlement.domain.journal import JournalEntry
from services.escrow_settlement.domain.payouts import plan
from services.escrow_settlement.domain.postings import post
from services.escrow_settlement.domain.state import Holder, LedgerState, OrderStatus
from shared.contracts.common import TicketType

pytestmark = pytest.mark.unit

START = date(2024, 6, 1)
MERCHANTS = ("3362787", "2000132")


@dataclass
class Run:
    state: LedgerState = field(default_factory=LedgerState)
    journal: list[JournalEntry] = field(default_factory=list)

    def post(self, fact: Fact) -> None:
        outcome = post(self.state, fact)
        self.state = outcome.state
        self.journal += outcome.entries
        assert check_state(self.state) == [], fact

    def holders(self) -> dict[tuple[str, str], Holder]:
        return {(key, no): t.holder for key, book in self.state.orders.items() for no, t in book.tickets.items()}

    def waiting(self) -> set[str]:
        return {f.cause_id for book in self.state.orders.values() for f in book.parked + book.held}


def voucher_life(draw: st.DrawFn, ticket: TicketRef, fee: int, cause: str) -> list[Fact]:
    """One voucher's redemption events in the order the redemption service would emit them."""
    facts: list[Fact] = []
    gift = ticket.ticket_type is TicketType.GIFT
    t, refund = ticket, ticket.face_value - fee
    status = "unused"
    for _ in range(draw(st.integers(0, 4))):
        cause_id, within = f"{cause}-{len(facts)}", not gift  # gift vouchers are never within escrow
        if status == "unused":
            status = draw(st.sampled_from(["written_off", "refunded"]))
            if status == "written_off":
                facts.append(TicketRedeemed(cause_id=cause_id, on=START, ticket=t, within_escrow=within))
            else:
                facts.append(
                    TicketReturned(
                        cause_id=cause_id, on=START, ticket=t, within_escrow=within, fee=fee, refund_amount=refund
                    )
                )
        elif status == "written_off":
            status = "unused"
            facts.append(RedemptionCancelled(cause_id=cause_id, on=START, ticket=t, within_escrow=within))
        else:
            status = "unused"
            facts.append(
                ReturnCancelled(
                    cause_id=cause_id, on=START, ticket=t, within_escrow=within, fee=fee, refund_amount=refund
                )
            )
    if status == "unused":
        facts.append((UsageExpired if gift else EscrowExpired)(cause_id=f"{cause}-x", on=START, ticket=ticket))
        if not gift and draw(st.booleans()):  # still redeemable after escrow: moves no money
            facts.append(TicketRedeemed(cause_id=f"{cause}-late", on=START, ticket=ticket, within_escrow=False))
            if draw(st.booleans()):
                facts.append(
                    RedemptionCancelled(cause_id=f"{cause}-undo", on=START, ticket=ticket, within_escrow=False)
                )
    return facts


def order_life(draw: st.DrawFn, index: int) -> list[Fact]:
    order = OrderRef(draw(st.sampled_from(MERCHANTS)), f"T{index:04d}")
    faces = draw(st.lists(st.integers(1, 2000), max_size=3))
    tickets = [TicketRef(order, f"P{k}", TicketType.PICKUP, face) for k, face in enumerate(faces)]
    if not faces or draw(st.booleans()):
        tickets.append(TicketRef(order, "G", TicketType.GIFT, 0))
    vouchers = tuple(IssuedVoucher(t.ticket_no, t.ticket_type, t.face_value) for t in tickets)
    head: list[Fact] = [OrderIssued(cause_id=f"{order.key}-i", on=START, order=order, tickets=vouchers,
                                    escrow_expiry_date=START + timedelta(days=30))]  # fmt: skip
    if faces:
        off_by = draw(st.sampled_from([0] * 9 + [1]))  # now and then a payment that does not match
        head.insert(draw(st.integers(0, 1)), PaymentReceived(cause_id=f"{order.key}-p", on=START, order=order,
                                                             amount=sum(faces) + off_by))  # fmt: skip
    lives = [voucher_life(draw, t, draw(st.integers(0, t.face_value)), f"{order.key}-{t.ticket_no}") for t in tickets]
    return head + interleave(draw, lives)


def interleave(draw: st.DrawFn, streams: list[list[Fact]]) -> list[Fact]:
    streams, merged = [s for s in streams if s], []
    while streams:
        stream = streams[draw(st.integers(0, len(streams) - 1))]
        merged.append(stream.pop(0))
        streams = [s for s in streams if s]
    return merged


@st.composite
def histories(draw: st.DrawFn) -> list[Fact]:
    """Facts in causal order, with payout runs (planned from the ledger at that moment) between them."""
    streams = [order_life(draw, i) for i in range(draw(st.integers(1, 3)))]
    run, history, day = Run(), list[Fact](), START

    def happen(fact: Fact) -> None:
        fact = replace(fact, on=day)
        history.append(fact)
        run.post(fact)

    while any(streams):
        pick = draw(st.integers(0, len(streams)))
        if pick < len(streams) and streams[pick]:
            happen(streams[pick].pop(0))
        elif pick == len(streams):
            day += timedelta(days=1)
            settlement = plan(run.state, day)
            sends: list[PayoutSent | RefundTransferSent] = [*settlement.payouts, *settlement.refunds]
            for sent in sends:
                happen(sent)
                happen(bank_answer(sent, day, rejected=draw(st.integers(0, 3)) == 0))
    return history


def bank_answer(sent: PayoutSent | RefundTransferSent, day: date, *, rejected: bool) -> Fact:
    cause, i = f"{sent.cause_id}-bank", sent.instruction_id
    if isinstance(sent, PayoutSent):
        if rejected:
            return PayoutRejected(
                cause_id=cause,
                on=day,
                instruction_id=i,
                merchant_id=sent.merchant_id,
                amount=sent.amount,
                reason="closed",
            )
        return PayoutConfirmed(
            cause_id=cause, on=day, instruction_id=i, merchant_id=sent.merchant_id, amount=sent.amount
        )
    if rejected:
        return RefundTransferRejected(
            cause_id=cause, on=day, instruction_id=i, order=sent.order, amount=sent.amount, reason="closed"
        )
    return RefundTransferConfirmed(cause_id=cause, on=day, instruction_id=i, order=sent.order, amount=sent.amount)


def replay(facts: list[Fact]) -> Run:
    run = Run()
    for fact in facts:
        run.post(fact)
    assert check_ledger(run.state, run.journal) == []
    return run


@settings(max_examples=200, deadline=None)
@given(histories())
def test_the_invariants_hold_after_every_fact_of_a_history_in_causal_order(history: list[Fact]) -> None:
    run = replay(history)
    for book in run.state.orders.values():  # a consistent order ends with nothing waiting
        if book.status is not OrderStatus.MISMATCH:
            assert book.parked == () and book.held == ()
    paid = sum(f.amount for f in history if isinstance(f, PaymentReceived))
    paid_out = sum(f.amount for f in history if isinstance(f, PayoutConfirmed | RefundTransferConfirmed))
    assert run.state.held_in(BANK_CASH) == paid - paid_out  # the bank holds what came in minus what went out


@settings(max_examples=300, deadline=None)
@given(histories(), st.data())
def test_any_arrival_order_gives_the_same_ledger(history: list[Fact], data: st.DataObject) -> None:
    causal = replay(history)
    redelivered = data.draw(st.lists(st.sampled_from(history), max_size=5)) if history else []
    shuffled = replay(data.draw(st.permutations(history + redelivered)))
    assert shuffled.state.balances == causal.state.balances
    assert sorted(e.entry_id for e in shuffled.journal) == sorted(e.entry_id for e in causal.journal)
    assert shuffled.holders() == causal.holders()
    assert shuffled.waiting() == causal.waiting()


@settings(max_examples=100, deadline=None)
@given(histories())
def test_applying_a_history_twice_changes_nothing_the_second_time(history: list[Fact]) -> None:
    once = replay(history)
    twice = replay(history + history)
    assert twice.state == once.state and twice.journal == once.journal
