"""`post(state, fact) -> Outcome`: the one entry point of the ledger core. Pure: no I/O, no clock.

Idempotent per cause id (a redelivered fact changes nothing). Facts may arrive in any order: what cannot apply
yet is parked and applied when its prerequisite arrives (parking.py), and every entry takes its id and business
date from its own cause, so any arrival order of the same facts ends with the same entries and balances.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.escrow_settlement.domain.accounts import Account, AccountKind
from services.escrow_settlement.domain.considered import considered
from services.escrow_settlement.domain.evolve import evolve
from services.escrow_settlement.domain.facts import (
    Fact,
    OrderFact,
    OrderFailed,
    OrderIssued,
    PaymentReceived,
    TransferFactBase,
)
from services.escrow_settlement.domain.journal import NOTHING, Effects, JournalEntry
from services.escrow_settlement.domain.notices import Alert, AlertKind, LedgerException
from services.escrow_settlement.domain.orders import on_failed, on_issued, on_payment
from services.escrow_settlement.domain.parking import arrive, drain
from services.escrow_settlement.domain.state import LedgerState
from services.escrow_settlement.domain.transfers import post_transfer


@dataclass(frozen=True)
class Outcome:
    state: LedgerState
    entries: tuple[JournalEntry, ...] = ()  # this fact's entries and those of parked facts it unblocked
    parked: tuple[Fact, ...] = ()  # the fact itself, when it had to wait
    exceptions: tuple[LedgerException, ...] = ()
    alerts: tuple[Alert, ...] = ()


def post(state: LedgerState, fact: Fact) -> Outcome:
    if isinstance(fact, TransferFactBase):
        new, effects, parked = post_transfer(state, fact)
    else:
        new, effects, parked = _post_order_fact(state, fact)
    new = new.with_entries(effects.entries)
    alerts = effects.alerts + _debit_alerts(new, effects.entries)
    return Outcome(new, effects.entries, (fact,) if parked else (), effects.exceptions, alerts)


def post_all(state: LedgerState, facts: list[Fact]) -> tuple[LedgerState, list[Outcome]]:
    outcomes = []
    for fact in facts:
        outcome = post(state, fact)
        state = outcome.state
        outcomes.append(outcome)
    return state, outcomes


def _post_order_fact(state: LedgerState, fact: OrderFact) -> tuple[LedgerState, Effects, bool]:
    book = state.order_book(fact.order)
    if fact.cause_id in book.seen:
        return state, NOTHING, False
    book = evolve(book, seen=book.seen | {fact.cause_id})
    if isinstance(fact, PaymentReceived):
        book, effects = on_payment(book, fact)
    elif isinstance(fact, OrderIssued):
        book, effects = on_issued(book, fact)
    elif isinstance(fact, OrderFailed):
        book, effects = on_failed(book, fact)
    elif (record := considered(fact)) is not None:
        effects = record
    else:
        book, effects = arrive(book, fact)
    book, unblocked = drain(book)
    return state.with_order(book), effects + unblocked, fact in book.parked


def _debit_alerts(state: LedgerState, entries: tuple[JournalEntry, ...]) -> tuple[Alert, ...]:
    """A merchant (payable + fee income) or a consumer refund account that these entries left in debit."""
    touched: set[Account] = {p.account for e in entries for p in e.postings}
    alerts = []
    merchants = sorted({a.owner for a in touched if a.kind in _MERCHANT})
    for m in merchants:
        owed = sum(state.held_in(Account(kind, m)) for kind in _MERCHANT)
        if owed < 0:
            alerts.append(Alert(AlertKind.CLAWBACK, m, f"merchant owes NT${-owed}: netted from its next payout"))
    for account in sorted(a for a in touched if a.kind is AccountKind.CONSUMER_REFUND_PAYABLE):
        if (owed := state.held_in(account)) < 0:
            alerts.append(Alert(AlertKind.CONSUMER_OWES, account.owner, f"consumer was refunded NT${-owed} too much"))
    return tuple(alerts)


_MERCHANT = (AccountKind.MERCHANT_PAYABLE, AccountKind.MERCHANT_FEE_INCOME)
