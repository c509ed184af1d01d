"""The escrow ledger, rebuilt from the events with settlement's own core (pure).

The facts are what settlement's `inbound.fact_from` makes of each event, plus the transfers it sent (its payout and
refund instructions). They are posted in batches with `settle`, exactly as the service does on a consumer batch:
each batch on the slice of books and balances it touches (so the cost stays per fact), with the same per-subject
invariant checks (paid = released + refunded + fees + held per order, no voucher released twice, entries that
balance) and the same quarantine. Every journal entry derived this way must be one settlement recorded
(LedgerEntryPosted, compared field by field through a digest), and every recorded one must be derived.
"""

from __future__ import annotations

import hashlib
import sys
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import time

from services.audit.domain.coldmap import ColdMap
from services.audit.domain.digests import Digests
from services.audit.domain.payouts import PayoutChecks
from services.audit.domain.records import Finding, Findings
from services.escrow_settlement.domain.accounts import Account, AccountKind, OrderRef
from services.escrow_settlement.domain.batch import Slice, settle
from services.escrow_settlement.domain.checks import net_releases
from services.escrow_settlement.domain.facts import Fact, OrderFact, PayoutSent, RefundTransferSent
from services.escrow_settlement.domain.invariants import check_state
from services.escrow_settlement.domain.journal import JournalEntry
from services.escrow_settlement.domain.state import LedgerState, OrderBook, TransferBook
from services.escrow_settlement.domain.subjects import merchant_of, subject_merchant, subject_of
from services.escrow_settlement.inbound import fact_from
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Event
from shared.contracts.settlement import LedgerEntryPosted, PayoutInstructed, RefundInstructed

# Facts posted per `settle`. Any size gives the same entries on a clean log, and the cost is per fact since the
# checks after a batch index its balances by owner (batch.py; before, they cost the batch's size squared). 256 to
# 2,000 replay at the same speed (within 10 %); a small batch keeps less of the slice in memory at once.
BATCH = 256


@dataclass
class LedgerReplay:
    findings: Findings
    cutoff: time
    books: ColdMap[str, OrderBook] = field(default_factory=ColdMap)
    # as objects a transfer book cost about 1.8 KB, some 40,000 of them in a million events
    transfers: ColdMap[uuid.UUID, TransferBook] = field(default_factory=ColdMap)
    open_transfers: dict[str, set[uuid.UUID]] = field(default_factory=dict)  # subject -> unanswered instructions
    # owner -> its accounts' raw balances, by kind: an Account object per account cost some 150 bytes an order
    balances: dict[str, dict[AccountKind, int]] = field(default_factory=dict)
    releases: dict[str, Counter[str]] = field(default_factory=dict)  # order key -> ticket no -> net releases
    quarantined: set[str] = field(default_factory=set)
    derived: Digests = field(default_factory=Digests)  # entry id -> digest, until settlement's record is read
    recorded: int = 0
    entries: int = 0
    diverted: int = 0
    _pending: list[Fact] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.payouts = PayoutChecks(self.findings)

    def on_event(self, envelope: EventEnvelope, event: Event) -> None:
        fact = _sent_fact(event) if isinstance(event, PayoutInstructed | RefundInstructed) else None
        if fact is None:
            fact = fact_from(envelope, self.cutoff)
        if isinstance(fact, PayoutSent):
            self.flush()  # every entry before it counts towards what it may pay
            self.payouts.check(fact)
        if fact is not None:
            self._pending.append(fact)
            if len(self._pending) >= BATCH:
                self.flush()

    def on_recorded(self, event: LedgerEntryPosted, where: str) -> None:
        """A journal entry settlement published: it must be one the rules derive, with the same postings."""
        self.flush()
        self.recorded += 1
        digest = self.derived.pop(event.entry_id.bytes)
        if digest is None:
            detail = f"entry {event.entry_id} ({event.kind}, cause {event.cause_id}): no rule derives it"
            self._find("entry_not_derived", where, detail, event.merchant_id)
        elif digest != _recorded_digest(event):
            detail = f"entry {event.entry_id} ({event.kind}, cause {event.cause_id}): postings differ from the rules'"
            self._find("entry_differs", where, detail, event.merchant_id)

    def flush(self) -> None:
        facts, self._pending = self._pending, []
        if not facts:
            return
        loaded = self._slice(facts)
        outcome = settle(loaded, facts)
        # An order's key is kept by several maps (book, balances, releases, the order checks'): interned, they
        # share one string instead of holding a copy each.
        for key, book in outcome.books.items():
            self.books[sys.intern(key)] = book
        for instruction_id, transfer in outcome.transfers.items():
            self.transfers[instruction_id] = transfer
            if transfer.sent is not None:
                self._track(subject_of(transfer.sent), instruction_id, answered=transfer.settled is not None)
        for account, value in outcome.balances.items():
            delta = value - loaded.balances.get(account, 0)
            if delta:
                owned = self.balances.setdefault(sys.intern(account.owner), {})
                owned[account.kind] = owned.get(account.kind, 0) + delta
        for (order, ticket), count in net_releases(outcome.entries).items():
            self.releases.setdefault(sys.intern(order), Counter())[ticket] += count
        self.payouts.on_entries(outcome.entries)
        for entry in outcome.entries:
            self.derived.put(entry.entry_id.bytes, _derived_digest(entry))
        self.entries += len(outcome.entries)
        self.diverted += len(outcome.diverted)
        for subject, violations in sorted(outcome.violations.items()):
            self.quarantined.add(subject)
            for v in violations:
                detail = f"{v.rule} on {v.subject}: {v.detail}"
                self._find("invariant", subject, detail, subject_merchant(subject))

    def accounts(self) -> Mapping[Account, int]:
        """Every account's raw balance, owner by owner."""
        return _Flat(self.balances)

    def finish(self) -> None:
        """The whole-ledger rules (the service's full check) and the entries never recorded."""
        self.flush()
        state = LedgerState(orders=self.books, transfers=self.transfers, balances=self.accounts())
        for v in check_state(state):
            self._find("invariant", v.subject, f"{v.rule}: {v.detail}", subject_merchant(v.subject))
        for entry_id in sorted(self.derived):
            self._find(
                "entry_not_recorded",
                str(uuid.UUID(bytes=entry_id)),
                "the rules derive it; settlement never published it",
                None,
            )

    def _slice(self, facts: list[Fact]) -> Slice:
        subjects = {subject_of(f) for f in facts}
        owners = subjects | {merchant_of(f) for f in facts}
        instructions = {f.instruction_id for f in facts if not isinstance(f, OrderFact)}
        for subject in subjects:
            instructions |= self.open_transfers.get(subject, set())
        journal: Counter[tuple[str, str]] = Counter()
        for subject in subjects:
            for ticket, count in self.releases.get(subject, Counter()).items():
                journal[(subject, ticket)] = count
        return Slice(
            books={s: self.books[s] for s in subjects if s in self.books},
            transfers={i: self.transfers[i] for i in instructions if i in self.transfers},
            balances={Account(kind, owner): v for owner in owners for kind, v in self.balances.get(owner, {}).items()},
            quarantined=frozenset(self.quarantined & subjects),
            journal=journal,
        )

    def _track(self, subject: str, instruction_id: uuid.UUID, *, answered: bool) -> None:
        """The subject's unanswered instructions; a subject with none is dropped (most are answered, and an empty
        set per order cost some 300 bytes)."""
        unanswered = self.open_transfers.get(subject)
        if answered:
            if unanswered is not None:
                unanswered.discard(instruction_id)
                if not unanswered:
                    del self.open_transfers[subject]
        elif unanswered is None:
            self.open_transfers[subject] = {instruction_id}
        else:
            unanswered.add(instruction_id)

    def _find(self, kind: str, where: str, detail: str, merchant_id: str | None) -> None:
        self.findings.add(Finding("ledger", kind, where, detail, merchant_id))


class _Flat(Mapping[Account, int]):
    """Every account's balance, read through the per-owner maps: the end-of-log check reads each once, and a copy of
    them all in one dict cost some 30 MB at the peak of a million-event replay."""

    def __init__(self, owned: dict[str, dict[AccountKind, int]]) -> None:
        self._owned = owned

    def __getitem__(self, account: Account) -> int:
        return self._owned[account.owner][account.kind]

    def __iter__(self) -> Iterator[Account]:
        return (Account(kind, owner) for owner, owned in self._owned.items() for kind in owned)

    def __len__(self) -> int:
        return sum(len(owned) for owned in self._owned.values())


def _sent_fact(event: PayoutInstructed | RefundInstructed) -> Fact:
    """The Sent fact settlement posted when it planned the instruction (its cause id is the instruction id)."""
    i = event.instruction_id
    if isinstance(event, PayoutInstructed):
        return PayoutSent(cause_id=str(i), on=event.business_date, instruction_id=i, merchant_id=event.merchant_id,
                          attempt=event.attempt, payable_part=event.payable_part, fee_part=event.fee_part)  # fmt: skip
    order = OrderRef(event.merchant_id, event.ticket_trade_no)
    return RefundTransferSent(cause_id=str(i), on=event.business_date, instruction_id=i, order=order,
                              attempt=event.attempt, amount=event.amount)  # fmt: skip


def _digest(parts: list[str]) -> bytes:
    return hashlib.sha256("\x1f".join(parts).encode()).digest()[:16]


def _derived_digest(e: JournalEntry) -> bytes:
    lines = [f"{p.account.kind.value}|{p.account.owner}|{p.amount}" for p in e.postings]
    order = e.order.ticket_trade_no if e.order else ""
    return _digest([e.cause_id, e.on.isoformat(), e.kind.value, e.merchant_id, order, e.ticket_no or "", *lines])


def _recorded_digest(e: LedgerEntryPosted) -> bytes:
    lines = [f"{p.account_kind}|{p.owner}|{p.amount}" for p in e.postings]
    parts = [e.cause_id, e.business_date.isoformat(), e.kind, e.merchant_id, e.ticket_trade_no or ""]
    return _digest([*parts, e.ticket_no or "", *lines])
