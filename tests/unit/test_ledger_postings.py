"""The escrow ledger's posting rules: every fact, each cancellation path, parking, exceptions, payouts, invariants.

Balances are asserted exactly, as natural balances (what is on each account's normal side), zero accounts left out.
Every post is followed by the full invariant check.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.escrow_settlement.domain.accounts import (
    OrderRef,
    consumer_refund_payable,
    escrow_held,
    merchant_payable,
    natural,
)
from services.escrow_settlement.domain.facts import (
    EscrowExpired,
    Fact,
    IssuedVoucher,
    OrderFailed,
    OrderIssued,
    PaymentReceived,
    PayoutConfirmed,
    PayoutRejected,
    PayoutSent,
    RedemptionCancelled,
    RefundTransferConfirmed,
    ReturnCancelled,
    TicketRedeemed,
    TicketRef,
    TicketReturned,
    UsageExpired,
)
from services.escrow_settlement.domain.invariants import (
    check_entries,
    check_ledger,
    check_state,
    unresolved_payments,
)
from services.escrow_settlement.domain.journal import EntryKind, JournalEntry, Posting
from services.escrow_settlement.domain.notices import AlertKind, ExceptionKind
from services.escrow_settlement.domain.parking import pending, waiting_reasons
from services.escrow_settlement.domain.payouts import PayoutPolicy, payout_id, plan, refund_id, settlement_day
from services.escrow_settlement.domain.postings import Outcome, post
from services.escrow_settlement.domain.state import LedgerState, OrderStatus
from shared.contracts.common import TicketType

pytestmark = pytest.mark.unit

M = "3362787"
ORDER = OrderRef(M, "T0001")
DAY, NEXT_DAY = date(2024, 6, 10), date(2024, 6, 11)
A = TicketRef(ORDER, "A", TicketType.PICKUP, 1000)
B = TicketRef(ORDER, "B", TicketType.PICKUP, 500)
G = TicketRef(ORDER, "G", TicketType.GIFT, 0)
BANK, ESCROW, SUSPENSE = "bank_cash:escrow-bank", f"escrow_held:{M}/T0001", f"suspense:{M}/T0001"
PAYABLE, FEES, CONSUMER = f"merchant_payable:{M}", f"merchant_fee_income:{M}", f"consumer_refund_payable:{M}/T0001"
IN_TRANSIT, CONSUMER_IN_TRANSIT = f"merchant_payout_in_transit:{M}", f"consumer_refund_in_transit:{M}/T0001"
_ids = itertools.count()


def cause() -> str:
    return f"evt-{next(_ids)}"


def paid(amount: int = 1500) -> PaymentReceived:
    return PaymentReceived(cause_id=cause(), on=DAY, order=ORDER, amount=amount)


def issued(*tickets: TicketRef) -> OrderIssued:
    vouchers = tuple(IssuedVoucher(t.ticket_no, t.ticket_type, t.face_value) for t in tickets or (A, B, G))
    return OrderIssued(cause_id=cause(), on=DAY, order=ORDER, tickets=vouchers, escrow_expiry_date=date(2024, 7, 10))


def written_off(t: TicketRef, within: bool = True) -> TicketRedeemed:
    return TicketRedeemed(cause_id=cause(), on=DAY, ticket=t, within_escrow=within)


def write_off_cancelled(t: TicketRef, within: bool = True) -> RedemptionCancelled:
    return RedemptionCancelled(cause_id=cause(), on=DAY, ticket=t, within_escrow=within)


def refunded(t: TicketRef, fee: int, within: bool = True) -> TicketReturned:
    amount = t.face_value - fee
    return TicketReturned(cause_id=cause(), on=DAY, ticket=t, within_escrow=within, fee=fee, refund_amount=amount)


def refund_cancelled(t: TicketRef, fee: int, within: bool = True) -> ReturnCancelled:
    amount = t.face_value - fee
    return ReturnCancelled(cause_id=cause(), on=DAY, ticket=t, within_escrow=within, fee=fee, refund_amount=amount)


def failed(on: date = DAY) -> OrderFailed:
    return OrderFailed(cause_id=cause(), on=on, order=ORDER, reason="2007: paid NT$1400 but the vouchers are NT$1500")


def duplicate(amount: int = 1500, on: date = DAY) -> PaymentReceived:
    return PaymentReceived(cause_id=cause(), on=on, order=ORDER, amount=amount, duplicate_of="E-first")


def expired(t: TicketRef) -> EscrowExpired:
    return EscrowExpired(cause_id=cause(), on=date(2024, 7, 11), ticket=t)


class Books:
    """A ledger under test: posts facts, keeps the journal, checks every invariant after every post."""

    def __init__(self, *facts: Fact) -> None:
        self.state, self.journal = LedgerState(), list[JournalEntry]()
        self.post(*facts)

    def post(self, *facts: Fact) -> Outcome:
        outcome = Outcome(self.state)
        for fact in facts:
            outcome = post(self.state, fact)
            self.state = outcome.state
            self.journal += outcome.entries
            assert check_ledger(self.state, self.journal) == []
        return outcome

    def balances(self) -> dict[str, int]:
        return {str(a): natural(a, raw) for a, raw in sorted(self.state.balances.items()) if raw != 0}

    def payout_run(self, day: date, *, reject: bool = False) -> list[PayoutSent]:
        """Plan, send every instruction, and have the bank confirm (or reject) each."""
        plan_ = plan(self.state, day)
        for sent in plan_.payouts:
            outcome_type = PayoutRejected if reject else PayoutConfirmed
            extra = {"reason": "account closed"} if reject else {}
            self.post(sent, outcome_type(cause_id=cause(), on=day, instruction_id=sent.instruction_id,
                                         merchant_id=sent.merchant_id, amount=sent.amount, **extra))  # fmt: skip
        for refund in plan_.refunds:
            self.post(refund, RefundTransferConfirmed(cause_id=cause(), on=day, instruction_id=refund.instruction_id,
                                                      order=refund.order, amount=refund.amount))  # fmt: skip
        return list(plan_.payouts)


def ready() -> Books:
    return Books(paid(), issued())


# --- payment and issuance -------------------------------------------------------------------------------------


def test_a_payment_enters_escrow_for_its_order() -> None:
    books = Books(paid())
    assert books.balances() == {BANK: 1500, ESCROW: 1500}
    assert [e.kind for e in books.journal] == [EntryKind.PAYMENT]


def test_issuing_the_paid_order_moves_no_money() -> None:
    books = ready()
    assert books.balances() == {BANK: 1500, ESCROW: 1500}
    assert len(books.journal) == 1


def test_every_entry_names_the_event_that_caused_it_and_has_an_id_derived_from_it() -> None:
    payment = paid()
    (entry,) = Books(payment).journal
    assert entry.cause_id == payment.cause_id
    assert entry == Books(payment).journal[0]  # a replay derives the same id


def test_a_redelivered_fact_changes_nothing() -> None:
    payment, write_off = paid(), written_off(A)
    books = Books(payment, issued(), write_off)
    again = books.post(payment, write_off)
    assert again.entries == () and again.state == books.state
    assert books.balances() == {BANK: 1500, ESCROW: 500, PAYABLE: 1000}


# --- money facts -------------------------------------------------------------------------------------------------


def test_a_write_off_within_escrow_moves_the_face_value_to_the_merchant() -> None:
    books = ready()
    outcome = books.post(written_off(A))
    assert books.balances() == {BANK: 1500, ESCROW: 500, PAYABLE: 1000}
    (entry,) = outcome.entries
    assert entry.kind is EntryKind.WRITE_OFF and entry.ticket_no == "A" and entry.on == DAY


def test_redeeming_twice_pays_the_merchant_once() -> None:
    books = ready()
    books.post(written_off(A))
    second = books.post(written_off(A))
    assert books.balances() == {BANK: 1500, ESCROW: 500, PAYABLE: 1000}
    assert second.entries == () and second.parked
    [(fact, reason)] = pending(books.state.order_book(ORDER))
    assert fact == second.parked[0] and "merchant_by_write_off" in reason


def test_a_refund_within_escrow_returns_face_minus_fee_to_the_consumer_and_the_fee_to_the_merchant() -> None:
    books = ready()
    books.post(refunded(A, fee=100))
    assert books.balances() == {BANK: 1500, ESCROW: 500, CONSUMER: 900, FEES: 100}


def test_escrow_expiry_releases_an_unused_pickup_voucher_to_the_merchant() -> None:
    books = ready()
    books.post(written_off(A), expired(B))
    assert books.balances() == {BANK: 1500, PAYABLE: 1500}
    assert books.journal[-1].kind is EntryKind.ESCROW_EXPIRY and books.journal[-1].on == date(2024, 7, 11)


def test_a_write_off_after_escrow_expiry_moves_no_money_but_is_recorded() -> None:
    books = ready()
    books.post(expired(A))
    outcome = books.post(written_off(A, within=False), write_off_cancelled(A, within=False))
    assert books.balances() == {BANK: 1500, ESCROW: 500, PAYABLE: 1000}
    (entry,) = outcome.entries
    assert entry.kind is EntryKind.CONSIDERED and entry.postings == () and "after escrow" in entry.memo


def test_anything_about_a_gift_voucher_moves_no_money_but_is_recorded() -> None:
    books = Books(written_off(G))  # not even the order is known yet: still recorded at once
    books.post(write_off_cancelled(G), refunded(G, fee=0), refund_cancelled(G, fee=0))
    books.post(UsageExpired(cause_id=cause(), on=DAY, ticket=G))
    assert books.balances() == {}
    assert [e.kind for e in books.journal] == [EntryKind.CONSIDERED] * 5
    assert all(e.postings == () and "gift" in e.memo for e in books.journal[:4])


def test_a_refund_after_escrow_is_raised_and_moves_no_money() -> None:
    books = ready()
    outcome = books.post(refunded(A, fee=100, within=False))
    assert books.balances() == {BANK: 1500, ESCROW: 1500}
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.REFUND_OUTSIDE_ESCROW]
    assert outcome.entries[0].kind is EntryKind.CONSIDERED


# --- cancellations -----------------------------------------------------------------------------------------------


def test_cancelling_a_write_off_before_payout_reverses_it() -> None:
    books = ready()
    books.post(written_off(A))
    outcome = books.post(write_off_cancelled(A))
    assert books.balances() == {BANK: 1500, ESCROW: 1500}
    (entry,) = outcome.entries
    assert entry.kind is EntryKind.WRITE_OFF_REVERSAL
    assert set(entry.postings) == {Posting(escrow_held(ORDER), -1000), Posting(merchant_payable(M), 1000)}


def test_a_voucher_written_off_again_after_a_cancel_pays_the_merchant_once() -> None:
    books = ready()
    books.post(written_off(A), write_off_cancelled(A), written_off(A))
    assert books.balances() == {BANK: 1500, ESCROW: 500, PAYABLE: 1000}


def test_cancelling_a_write_off_after_payout_claws_back_from_the_next_payout() -> None:
    books = ready()
    books.post(written_off(A))
    [first] = books.payout_run(DAY)
    assert first.amount == 1000 and books.balances() == {BANK: 500, ESCROW: 500}
    outcome = books.post(write_off_cancelled(A))
    assert books.balances() == {BANK: 500, ESCROW: 1500, PAYABLE: -1000}
    assert [a.kind for a in outcome.alerts] == [AlertKind.CLAWBACK]
    assert plan(books.state, NEXT_DAY).payouts == ()  # never a negative bank transfer
    books.post(written_off(B))
    assert [c.amount for c in plan(books.state, NEXT_DAY).carried] == [-500]
    books.post(written_off(A))
    [netted] = books.payout_run(NEXT_DAY)
    assert netted.amount == 500 and netted.instruction_id == payout_id(M, NEXT_DAY, 0)
    assert books.balances() == {}  # everything paid out


def test_cancelling_a_refund_before_the_consumer_is_paid_reverses_it_exactly() -> None:
    books = ready()
    books.post(refunded(A, fee=100))
    outcome = books.post(refund_cancelled(A, fee=100))
    assert books.balances() == {BANK: 1500, ESCROW: 1500}
    assert outcome.entries[0].kind is EntryKind.REFUND_REVERSAL and outcome.exceptions == ()


def test_cancelling_a_refund_after_the_fee_was_paid_out_claws_the_fee_back() -> None:
    books = ready()
    books.post(written_off(B), refunded(A, fee=100))
    books.payout_run(DAY)  # pays the merchant 600 and the consumer 900
    assert books.balances() == {}  # everything paid out
    outcome = books.post(refund_cancelled(A, fee=100))
    assert books.balances() == {ESCROW: 1000, FEES: -100, CONSUMER: -900}
    assert {a.kind for a in outcome.alerts} == {AlertKind.CLAWBACK, AlertKind.CONSUMER_OWES}
    planned = plan(books.state, NEXT_DAY)
    assert planned.payouts == () and planned.refunds == ()
    assert sorted(c.amount for c in planned.carried) == [-900, -100]


def test_a_refund_cancel_that_states_other_amounts_reverses_what_was_recorded_and_is_raised() -> None:
    books = ready()
    books.post(refunded(A, fee=100))
    outcome = books.post(refund_cancelled(A, fee=200))
    assert books.balances() == {BANK: 1500, ESCROW: 1500}
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.REFUND_CANCEL_AMOUNTS_DIFFER]


# --- arrival order and parking -----------------------------------------------------------------------------------


def test_a_write_off_before_its_payment_and_issuance_applies_when_they_arrive() -> None:
    books = Books()
    waiting = books.post(written_off(A))
    assert waiting.parked and books.balances() == {}
    assert "awaiting_issuance" in pending(books.state.order_book(ORDER))[0][1]
    books.post(issued())
    assert "awaiting_payment" in pending(books.state.order_book(ORDER))[0][1]
    unblocked = books.post(paid())
    assert [e.kind for e in unblocked.entries] == [EntryKind.PAYMENT, EntryKind.WRITE_OFF]
    assert books.balances() == {BANK: 1500, ESCROW: 500, PAYABLE: 1000}


def test_a_cancel_that_arrives_before_its_write_off_applies_right_after_it() -> None:
    books = ready()
    cancel, write_off = write_off_cancelled(A), written_off(A)
    assert books.post(cancel).parked == (cancel,)
    outcome = books.post(write_off)
    assert [e.cause_id for e in outcome.entries] == [write_off.cause_id, cancel.cause_id]
    assert books.balances() == {BANK: 1500, ESCROW: 1500}


def test_a_refund_and_its_cancel_waiting_behind_a_later_write_off_apply_together() -> None:
    refund, cancel, write_off = refunded(A, fee=100), refund_cancelled(A, fee=100), written_off(A)
    books = ready()
    books.post(write_off, refund, cancel)  # real order: refund, cancel, write-off
    assert books.state.order_book(ORDER).parked == ()
    assert books.balances() == {BANK: 1500, ESCROW: 500, PAYABLE: 1000}
    assert {e.cause_id for e in books.journal} >= {refund.cause_id, cancel.cause_id, write_off.cause_id}


def test_an_expiry_waits_for_the_cancel_of_a_write_off_that_arrived_first() -> None:
    write_off, cancel, expiry = written_off(A), write_off_cancelled(A), expired(A)
    books = ready()
    assert books.post(write_off, expiry).parked == (expiry,)
    books.post(cancel)
    assert books.balances() == {BANK: 1500, ESCROW: 500, PAYABLE: 1000}
    assert books.journal[-1].cause_id == expiry.cause_id


# --- exceptions --------------------------------------------------------------------------------------------------


def test_a_payment_that_does_not_match_the_issued_face_values_is_held_in_suspense_whatever_arrives_first() -> None:
    payment, issue = paid(1400), issued()
    first, second = Books(payment, issue), Books(issue, payment)
    for books in (first, second):
        assert books.balances() == {BANK: 1400, SUSPENSE: 1400}
    assert {e.entry_id for e in first.journal} == {e.entry_id for e in second.journal}
    assert first.post(written_off(A)).parked  # nothing is released from a mismatched order
    assert first.balances() == {BANK: 1400, SUSPENSE: 1400}


def test_the_mismatch_is_raised_once_as_an_exception() -> None:
    books = Books(paid(1400))
    outcome = books.post(issued())
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.PAYMENT_MISMATCH]
    assert "NT$1400" in outcome.exceptions[0].detail and "NT$1500" in outcome.exceptions[0].detail


def test_a_second_payment_for_one_order_goes_through_suspense_back_to_the_consumer_in_full() -> None:
    books = ready()
    outcome = books.post(paid(1500))
    assert books.balances() == {BANK: 3000, ESCROW: 1500, CONSUMER: 1500}
    assert [e.kind for e in outcome.entries] == [EntryKind.DUPLICATE_PAYMENT, EntryKind.DUPLICATE_REFUND]
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.DUPLICATE_PAYMENT]  # still raised for the record


def test_a_second_issuance_of_one_order_is_ignored_and_raised() -> None:
    books = ready()
    outcome = books.post(issued(A))
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.DUPLICATE_ISSUANCE]
    assert set(books.state.order_book(ORDER).tickets) == {"A", "B"}


@pytest.mark.parametrize(
    ("fact", "kind"),
    [
        (written_off(TicketRef(ORDER, "Z", TicketType.PICKUP, 1000)), ExceptionKind.UNKNOWN_TICKET),
        (written_off(replace(A, face_value=999)), ExceptionKind.FACE_VALUE_MISMATCH),
        (replace(refunded(A, fee=100), refund_amount=1000), ExceptionKind.REFUND_AMOUNTS_INVALID),
    ],
)
def test_a_fact_that_contradicts_the_issued_order_is_held_as_an_exception(fact: Fact, kind: ExceptionKind) -> None:
    books = Books(fact)
    outcome = books.post(paid(), issued())
    assert [x.kind for x in outcome.exceptions] == [kind]
    assert books.state.order_book(ORDER).held == (fact,)
    assert books.balances() == {BANK: 1500, ESCROW: 1500}


def test_facts_about_an_order_never_paid_wait_and_are_listed_for_operations() -> None:
    books = Books(issued(), written_off(A))
    assert books.balances() == {}
    assert [reason for _, reason in pending(books.state.order_book(ORDER))] == ["order is awaiting_payment"]


# --- no stranded money: failed orders and duplicate payments are refunded in full -----------------------------


def test_an_order_that_failed_for_good_refunds_its_payment_in_full_no_fee() -> None:
    books = Books(paid(1400))
    outcome = books.post(failed())
    assert books.balances() == {BANK: 1400, CONSUMER: 1400}
    [entry] = outcome.entries
    assert entry.kind is EntryKind.FAILED_ORDER_REFUND and entry.on == DAY and "refunded in full" in entry.memo
    assert set(entry.postings) == {Posting(escrow_held(ORDER), 1400), Posting(consumer_refund_payable(ORDER), -1400)}
    assert books.state.order_book(ORDER).status is OrderStatus.FAILED and outcome.exceptions == ()


def test_a_failure_before_its_payment_gives_the_same_entry_dated_when_the_money_arrived() -> None:
    failure, payment = failed(on=DAY), paid(1400)
    payment = replace(payment, on=NEXT_DAY)  # never refunded before the money arrived
    first, second = Books(payment, failure), Books(failure, payment)
    assert first.balances() == second.balances() == {BANK: 1400, CONSUMER: 1400}
    assert first.journal == second.journal
    assert [(e.kind, e.on, e.cause_id) for e in second.journal] == [
        (EntryKind.PAYMENT, NEXT_DAY, payment.cause_id),
        (EntryKind.FAILED_ORDER_REFUND, NEXT_DAY, failure.cause_id),
    ]


def test_a_failed_orders_refund_is_instructed_by_the_payout_run_and_leaves_the_bank_when_confirmed() -> None:
    books = Books(paid(1400), failed())
    [refund] = plan(books.state, DAY).refunds
    assert (refund.order, refund.amount, refund.instruction_id) == (ORDER, 1400, refund_id(ORDER, DAY, 0))
    assert plan(books.state, DAY).payouts == ()  # the merchant gets nothing of it
    books.payout_run(DAY)
    assert books.balances() == {}  # the consumer has it all back; nothing stranded
    assert [e.kind for e in books.journal][-2:] == [EntryKind.REFUND_SENT, EntryKind.REFUND_CONFIRMED]


def test_a_duplicate_that_says_so_is_refunded_even_when_it_arrives_before_the_payment_that_stands() -> None:
    payment, second = paid(), duplicate()
    early, late = Books(second, payment, issued()), Books(payment, issued(), second)
    for books in (early, late):
        assert books.balances() == {BANK: 3000, ESCROW: 1500, CONSUMER: 1500}
        assert books.state.order_book(ORDER).status is OrderStatus.READY
    assert {e.entry_id for e in early.journal} == {e.entry_id for e in late.journal}
    late.post(written_off(A), written_off(B))
    late.payout_run(DAY)
    assert late.balances() == {}  # the merchant got the vouchers' money, the consumer the duplicate


def test_every_payment_of_an_order_that_failed_is_refunded_the_duplicate_too() -> None:
    books = Books(paid(1500), duplicate(1500), failed())
    assert books.balances() == {BANK: 3000, CONSUMER: 3000}
    books.payout_run(DAY)
    assert books.balances() == {}


def test_an_order_is_either_issued_or_failed_the_first_one_stands_and_the_other_is_raised() -> None:
    books = Books(paid(), issued())
    outcome = books.post(failed())
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.CONFLICTING_OUTCOME]
    assert books.balances() == {BANK: 1500, ESCROW: 1500} and books.state.order_book(ORDER).failed is None
    other = Books(paid(1400), failed())
    outcome = other.post(issued())
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.CONFLICTING_OUTCOME]
    assert other.balances() == {BANK: 1400, CONSUMER: 1400} and other.state.order_book(ORDER).issued is None


def test_a_voucher_fact_of_an_order_that_failed_is_held_as_an_exception() -> None:
    write_off = written_off(A)
    books = Books(write_off, paid(1400))
    outcome = books.post(failed())
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.VOUCHER_OF_FAILED_ORDER]
    assert books.state.order_book(ORDER).held == (write_off,) and books.state.order_book(ORDER).parked == ()
    assert books.balances() == {BANK: 1400, CONSUMER: 1400}


def test_a_refund_of_a_failed_order_that_went_elsewhere_is_reported() -> None:
    books = Books(paid(1400), failed())
    elsewhere = {**books.state.balances, consumer_refund_payable(ORDER): 0, merchant_payable(M): -1400}
    rules = {v.rule for v in check_state(replace(books.state, balances=elsewhere))}
    assert rules == {"payment_tickets_or_refunded"}
    lost = [e for e in books.journal if e.kind is not EntryKind.FAILED_ORDER_REFUND]
    assert "refunds_match_journal" in {v.rule for v in check_ledger(books.state, lost)}


def test_a_payment_neither_issued_nor_failed_long_after_the_unclaimed_wait_is_unresolved() -> None:
    books = Books(paid(), written_off(G))
    since = datetime(2024, 6, 10, 2, tzinfo=UTC)
    wait = timedelta(hours=25)
    waiting = {ORDER.key: since}
    assert unresolved_payments(books.state.orders, waiting, since + wait, wait) == []
    [late] = unresolved_payments(books.state.orders, waiting, since + wait + timedelta(seconds=1), wait)
    assert (late.rule, late.subject) == ("payment_unresolved", ORDER.key) and "NT$1500" in late.detail
    books.post(failed())  # refunded: resolved
    assert unresolved_payments(books.state.orders, waiting, since + 2 * wait, wait) == []
    unpaid = Books(issued())  # waiting for a payment is not money stranded
    assert unresolved_payments(unpaid.state.orders, waiting, since + 2 * wait, wait) == []


def test_a_paid_order_still_awaiting_issuance_is_explained_to_operations_as_refunded_if_unclaimed() -> None:
    reasons = waiting_reasons(Books(paid()).state.order_book(ORDER))
    assert reasons == "order is awaiting_issuance; paid NT$1500: refunded in full if no Issue request claims it in time"


# --- payouts and bank transfers ----------------------------------------------------------------------------------


def test_a_payout_sweeps_merchant_payable_and_fee_income_under_an_id_of_merchant_and_day() -> None:
    books = ready()
    books.post(written_off(B), refunded(A, fee=100))
    planned = plan(books.state, DAY)
    [payout] = planned.payouts
    assert (payout.payable_part, payout.fee_part, payout.amount) == (500, 100, 600)
    assert payout.instruction_id == payout_id(M, DAY, 0) and payout.cause_id == str(payout.instruction_id)
    [refund] = planned.refunds
    assert refund.amount == 900 and refund.instruction_id == refund_id(ORDER, DAY, 0)
    assert plan(books.state, DAY) == planned  # a rerun before anything was sent gives the same ids


def test_a_sent_payout_is_in_transit_until_the_bank_confirms_it() -> None:
    books = ready()
    books.post(written_off(A))
    [payout] = plan(books.state, DAY).payouts
    books.post(payout)
    assert books.balances() == {BANK: 1500, ESCROW: 500, IN_TRANSIT: 1000}
    assert plan(books.state, DAY).payouts == ()  # the same money is not instructed twice
    confirm = PayoutConfirmed(
        cause_id=cause(), on=DAY, instruction_id=payout.instruction_id, merchant_id=M, amount=1000
    )
    books.post(confirm)
    assert books.balances() == {BANK: 500, ESCROW: 500}
    assert books.journal[-1].kind is EntryKind.PAYOUT_CONFIRMED


def test_a_rejected_payout_stays_payable_and_is_retried_under_a_new_id() -> None:
    books = ready()
    books.post(written_off(A), refunded(B, fee=50))
    [rejected] = books.payout_run(DAY, reject=True)
    assert books.balances() == {BANK: 1050, PAYABLE: 1000, FEES: 50}
    assert books.journal[-1].kind is EntryKind.REFUND_CONFIRMED
    [retry] = plan(books.state, DAY).payouts
    assert retry.amount == rejected.amount == 1050
    assert retry.instruction_id == payout_id(M, DAY, 1) != rejected.instruction_id


def test_a_payout_rejected_again_and_again_is_withheld_and_alerted() -> None:
    books = ready()
    books.post(written_off(A))
    for _ in range(PayoutPolicy().max_rejections):
        books.payout_run(DAY, reject=True)
    planned = plan(books.state, DAY)
    assert planned.payouts == () and [c.amount for c in planned.carried] == [1000]
    assert [a.kind for a in planned.alerts] == [AlertKind.TRANSFER_WITHHELD]
    assert books.balances() == {BANK: 1500, ESCROW: 500, PAYABLE: 1000}


def test_a_bank_confirmation_before_its_instruction_waits_for_it() -> None:
    books = ready()
    books.post(written_off(A))
    [payout] = plan(books.state, DAY).payouts
    confirm = PayoutConfirmed(
        cause_id=cause(), on=DAY, instruction_id=payout.instruction_id, merchant_id=M, amount=1000
    )
    assert books.post(confirm).parked == (confirm,)
    outcome = books.post(payout)
    assert [e.kind for e in outcome.entries] == [EntryKind.PAYOUT_SENT, EntryKind.PAYOUT_CONFIRMED]
    assert books.balances() == {BANK: 500, ESCROW: 500}


def test_a_bank_outcome_that_does_not_match_the_instruction_is_raised_and_moves_nothing() -> None:
    books = ready()
    books.post(written_off(A))
    [payout] = plan(books.state, DAY).payouts
    wrong = PayoutConfirmed(cause_id=cause(), on=DAY, instruction_id=payout.instruction_id, merchant_id=M, amount=999)
    outcome = books.post(payout, wrong)
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.TRANSFER_MISMATCH]
    assert books.balances() == {BANK: 1500, ESCROW: 500, IN_TRANSIT: 1000}


def test_a_transfer_is_settled_once() -> None:
    books = ready()
    books.post(written_off(A))
    [payout] = books.payout_run(DAY)
    late = PayoutRejected(
        cause_id=cause(), on=DAY, instruction_id=payout.instruction_id, merchant_id=M, amount=1000, reason="late"
    )
    outcome = books.post(late)
    assert [x.kind for x in outcome.exceptions] == [ExceptionKind.TRANSFER_ALREADY_SETTLED]
    assert books.balances() == {BANK: 500, ESCROW: 500}


def test_a_consumer_refund_is_one_instruction_per_order_and_day() -> None:
    books = ready()
    books.post(refunded(A, fee=100), refunded(B, fee=0))
    [refund] = plan(books.state, DAY).refunds
    assert refund.amount == 1400 and refund.order == ORDER
    books.payout_run(DAY)
    assert books.balances() == {}  # everything paid out
    assert books.journal[-1].kind is EntryKind.REFUND_CONFIRMED and CONSUMER_IN_TRANSIT not in books.balances()


@pytest.mark.parametrize(
    ("taipei_clock", "cutoff", "day"),
    [
        (time(23, 59), time(0), date(2024, 6, 10)),
        (time(14, 59), time(15), date(2024, 6, 10)),
        (time(15, 0), time(15), date(2024, 6, 11)),
    ],
)
def test_the_settlement_day_moves_to_the_next_day_at_the_cut_off(taipei_clock: time, cutoff: time, day: date) -> None:
    hours = taipei_clock.hour - 8  # Asia/Taipei is UTC+8
    moment = datetime(2024, 6, 10 if hours >= 0 else 9, hours % 24, taipei_clock.minute, tzinfo=UTC)
    assert settlement_day(moment, cutoff) == day


# --- invariants --------------------------------------------------------------------------------------------------


def test_an_unbalanced_entry_is_reported() -> None:
    books = ready()
    broken = replace(books.journal[0], postings=books.journal[0].postings[:1])
    assert [v.rule for v in check_entries([broken])] == ["entry_balances"]


def test_a_voucher_released_twice_in_the_journal_is_reported() -> None:
    books = ready()
    books.post(written_off(A))
    doubled = [*books.journal, replace(books.journal[-1], cause_id="copy")]
    assert [v.rule for v in check_entries(doubled)] == ["released_once"]


def test_tampered_balances_are_reported_not_papered_over() -> None:
    books = ready()
    books.post(written_off(A))
    tampered = replace(books.state, balances={**books.state.balances, escrow_held(ORDER): 0})
    rules = {v.rule for v in check_state(tampered)}
    assert rules == {"accounts_sum_to_zero", "escrow_matches_vouchers"}
    assert {v.rule for v in check_ledger(tampered, books.journal)} >= {"balances_match_journal"}
