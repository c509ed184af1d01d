"""Posting one consumer batch of facts onto the slice of the ledger it touches, with quarantine (pure).

Each fact is posted by the core against a state holding just its own book and the few balances `post` reads, so a
batch costs O(facts), not O(facts x slice). After the batch every touched subject (order key, or the merchant /
order of a bank transfer) is checked (checks.py). A subject that fails is quarantined: the batch is computed
again from the loaded slice with that subject's facts diverted, so nothing of it reaches the journal, and its
facts wait in quarantine until operations release it. A violation is reported, never papered over.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from services.escrow_settlement.domain.accounts import (
    Account,
    consumer_refund_payable,
    merchant_fee_income,
    merchant_payable,
)
from services.escrow_settlement.domain.checks import (
    Releases,
    net_releases,
    order_violations,
    transfer_violations,
    unbalanced,
)
from services.escrow_settlement.domain.facts import Fact, OrderFact
from services.escrow_settlement.domain.invariants import Violation
from services.escrow_settlement.domain.journal import JournalEntry
from services.escrow_settlement.domain.notices import Alert, LedgerException
from services.escrow_settlement.domain.postings import post
from services.escrow_settlement.domain.state import LedgerState, OrderBook, TransferBook
from services.escrow_settlement.domain.subjects import PAYOUT_FACTS, merchant_of, subject_of


@dataclass(frozen=True)
class Slice:
    """What the shell loaded for a batch: books, the balances of their accounts, quarantine, journal summary."""

    books: dict[str, OrderBook]
    transfers: dict[uuid.UUID, TransferBook]  # the batch's own, plus every unanswered one of the same subjects
    balances: dict[Account, int]  # every account owned by a touched order key or merchant id
    quarantined: frozenset[str] = frozenset()
    journal: Releases = field(default_factory=Releases)


@dataclass
class BatchOutcome:
    books: dict[str, OrderBook] = field(default_factory=dict)  # changed books only
    transfers: dict[uuid.UUID, TransferBook] = field(default_factory=dict)
    balances: dict[Account, int] = field(default_factory=dict)
    entries: list[JournalEntry] = field(default_factory=list)
    exceptions: list[tuple[LedgerException, str]] = field(default_factory=list)  # (exception, merchant id)
    alerts: list[tuple[Alert, str, str]] = field(default_factory=list)  # (alert, cause id, merchant id)
    diverted: list[tuple[str, Fact]] = field(default_factory=list)  # (quarantined subject, fact)
    violations: dict[str, list[Violation]] = field(default_factory=dict)  # newly quarantined subject -> why


def settle(loaded: Slice, facts: Sequence[Fact]) -> BatchOutcome:
    """Post `facts` in order; quarantine every subject whose invariants fail, and post the rest without it."""
    stopped, found = set(loaded.quarantined), dict[str, list[Violation]]()
    while True:
        outcome = _post_all(loaded, facts, frozenset(stopped))
        new = _violations(loaded, outcome)
        if not new:
            outcome.violations = found
            return outcome
        found |= new
        stopped |= new.keys()


def _post_all(loaded: Slice, facts: Sequence[Fact], stopped: frozenset[str]) -> BatchOutcome:
    out = BatchOutcome(balances=dict(loaded.balances))
    books, transfers = dict(loaded.books), dict(loaded.transfers)
    for fact in facts:
        subject = subject_of(fact)
        if subject in stopped:
            out.diverted.append((subject, fact))
            continue
        read = {a: out.balances.get(a, 0) for a in _read_by_post(fact)}
        if isinstance(fact, OrderFact):
            state = LedgerState(orders={subject: books[subject]} if subject in books else {}, balances=read)
        else:
            known = transfers.get(fact.instruction_id)
            state = LedgerState(transfers={fact.instruction_id: known} if known else {}, balances=read)
        result = post(state, fact)
        for key, book in result.state.orders.items():
            books[key] = out.books[key] = book
        for instruction_id, tbook in result.state.transfers.items():
            transfers[instruction_id] = out.transfers[instruction_id] = tbook
        for entry in result.entries:
            for p in entry.postings:
                out.balances[p.account] = out.balances.get(p.account, 0) + p.amount
        out.entries += result.entries
        merchant = merchant_of(fact)
        out.exceptions += [(problem, merchant) for problem in result.exceptions]
        out.alerts += [(alert, fact.cause_id, merchant) for alert in result.alerts]
    return out


def _read_by_post(fact: Fact) -> list[Account]:
    """The balances `post` reads (for its claw-back alerts): the merchant's, and the order's consumer payable."""
    m = merchant_of(fact)
    accounts = [merchant_payable(m), merchant_fee_income(m)]
    if not isinstance(fact, PAYOUT_FACTS):
        accounts.append(consumer_refund_payable(fact.order))
    return accounts


def _violations(loaded: Slice, out: BatchOutcome) -> dict[str, list[Violation]]:
    found: dict[str, list[Violation]] = {}
    journal = Releases(loaded.journal)
    journal.update(net_releases(out.entries))  # update, not +: a negative count must stay visible
    # Each subject is checked on its own accounts and transfers, indexed once: looking for them through the whole
    # batch's balances for every subject made a batch cost its size squared (a third of the service's CPU).
    owned: dict[str, dict[Account, int]] = {}
    for account, value in out.balances.items():
        owned.setdefault(account.owner, {})[account] = value
    for key, book in out.books.items():
        if problems := order_violations(book, owned.get(key, {}), journal):
            found.setdefault(key, []).extend(problems)
    subjects = {_transfer_subject(b) for b in out.transfers.values()} - {None}
    if subjects:
        of_subject: dict[str | None, list[TransferBook]] = {}
        for tbook in {**loaded.transfers, **out.transfers}.values():
            of_subject.setdefault(_transfer_subject(tbook), []).append(tbook)
        for subject in sorted(s for s in subjects if s is not None):
            if problems := transfer_violations(subject, of_subject[subject], owned.get(subject, {})):
                found.setdefault(subject, []).extend(problems)
    for entry, problem in unbalanced(out.entries):
        subject = entry.order.key if entry.order is not None else entry.merchant_id
        found.setdefault(subject, []).append(problem)
    return found


def _transfer_subject(book: TransferBook) -> str | None:
    return None if book.sent is None else subject_of(book.sent)
