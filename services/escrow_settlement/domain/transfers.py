"""Bank transfers (merchant payouts, consumer refunds): sent, then confirmed or rejected by the bank.

Sent:      payable (+ fee income) -> in transit   (so the next run does not pay the same money again)
Confirmed: in transit -> out of bank cash         (the money left the escrow bank)
Rejected:  the exact mirror of Sent               (the money is payable again; the next run retries it)
A bank outcome that arrives before its instruction's Sent fact is parked in the transfer's book.
"""

from __future__ import annotations

from services.escrow_settlement.domain.accounts import (
    BANK_CASH,
    Account,
    consumer_in_transit,
    consumer_refund_payable,
    merchant_fee_income,
    merchant_in_transit,
    merchant_payable,
)
from services.escrow_settlement.domain.evolve import evolve
from services.escrow_settlement.domain.facts import (
    PayoutConfirmed,
    PayoutRejected,
    PayoutSent,
    RefundTransferConfirmed,
    RefundTransferRejected,
    RefundTransferSent,
    TransferFact,
    TransferOutcome,
    TransferSent,
)
from services.escrow_settlement.domain.journal import NOTHING, Effects, EntryKind, JournalEntry, make_entry, mirror
from services.escrow_settlement.domain.notices import Alert, AlertKind, ExceptionKind, LedgerException
from services.escrow_settlement.domain.state import LedgerState, TransferBook


def post_transfer(state: LedgerState, fact: TransferFact) -> tuple[LedgerState, Effects, bool]:
    """The new state, the effects, and whether `fact` was parked."""
    book = state.transfer_book(fact.instruction_id)
    if fact.cause_id in book.seen:
        return state, NOTHING, False
    book = evolve(book, seen=book.seen | {fact.cause_id})
    if isinstance(fact, PayoutSent | RefundTransferSent):
        book, effects = _on_sent(book, fact)
    else:
        book, effects = evolve(book, parked=(*book.parked, fact)), NOTHING
    sent = book.sent
    if sent is not None and book.parked:
        waiting, book = book.parked, evolve(book, parked=())
        for outcome in waiting:
            book, more = _settle(book, sent, outcome)
            effects += more
    return state.with_transfer(fact.instruction_id, book), effects, fact in book.parked


def _on_sent(book: TransferBook, fact: TransferSent) -> tuple[TransferBook, Effects]:
    if book.sent is not None:
        return book, _problem(ExceptionKind.TRANSFER_MISMATCH, fact, "a second instruction with the same id")
    return evolve(book, sent=fact), Effects((sent_entry(fact),))


def _settle(book: TransferBook, sent: TransferSent, outcome: TransferOutcome) -> tuple[TransferBook, Effects]:
    if book.settled is not None:
        return book, _problem(ExceptionKind.TRANSFER_ALREADY_SETTLED, outcome, f"already {type(book.settled).__name__}")
    if not _matches(sent, outcome):
        return book, _problem(ExceptionKind.TRANSFER_MISMATCH, outcome, f"does not match the instruction sent: {sent}")
    settled = evolve(book, settled=outcome)
    if isinstance(outcome, PayoutConfirmed | RefundTransferConfirmed):
        return settled, Effects((confirmed_entry(sent, outcome),))
    alert = Alert(AlertKind.TRANSFER_REJECTED, str(sent.instruction_id), f"rejected ({outcome.reason}): payable again")
    return settled, Effects((returned_entry(sent, outcome),), alerts=(alert,))


def _matches(sent: TransferSent, outcome: TransferOutcome) -> bool:
    if outcome.amount != sent.amount:
        return False
    if isinstance(sent, PayoutSent):
        return isinstance(outcome, PayoutConfirmed | PayoutRejected) and outcome.merchant_id == sent.merchant_id
    return isinstance(outcome, RefundTransferConfirmed | RefundTransferRejected) and outcome.order == sent.order


def sent_entry(sent: TransferSent) -> JournalEntry:
    return make_entry(sent, *_sent_moves(sent), merchant_id=_merchant(sent), memo=f"attempt {sent.attempt}")


def confirmed_entry(sent: TransferSent, outcome: TransferOutcome) -> JournalEntry:
    if isinstance(sent, PayoutSent):
        kind, in_transit = EntryKind.PAYOUT_CONFIRMED, merchant_in_transit(sent.merchant_id)
    else:
        kind, in_transit = EntryKind.REFUND_CONFIRMED, consumer_in_transit(sent.order)
    moves = [(in_transit, sent.amount), (BANK_CASH, -sent.amount)]
    return make_entry(outcome, kind, moves, merchant_id=_merchant(sent), memo=f"instruction {sent.instruction_id}")


def returned_entry(sent: TransferSent, outcome: TransferOutcome) -> JournalEntry:
    kind = EntryKind.PAYOUT_RETURNED if isinstance(sent, PayoutSent) else EntryKind.REFUND_RETURNED
    moves = mirror(_sent_moves(sent)[1])
    return make_entry(outcome, kind, moves, merchant_id=_merchant(sent), memo=f"instruction {sent.instruction_id}")


def _sent_moves(sent: TransferSent) -> tuple[EntryKind, list[tuple[Account, int]]]:
    if isinstance(sent, PayoutSent):
        m = sent.merchant_id
        moves = [(merchant_payable(m), sent.payable_part), (merchant_fee_income(m), sent.fee_part)]
        return EntryKind.PAYOUT_SENT, [*moves, (merchant_in_transit(m), -sent.amount)]
    moves = [(consumer_refund_payable(sent.order), sent.amount), (consumer_in_transit(sent.order), -sent.amount)]
    return EntryKind.REFUND_SENT, moves


def _merchant(sent: TransferSent) -> str:
    return sent.merchant_id if isinstance(sent, PayoutSent) else sent.order.merchant_id


def _problem(kind: ExceptionKind, fact: TransferFact, detail: str) -> Effects:
    return Effects(exceptions=(LedgerException(kind, fact.cause_id, str(fact.instruction_id), detail),))
