"""The on-demand full check: the whole ledger loaded back (books, transfers, balances, journal) and put through the
core's `check_ledger`, plus the database's own account sums. Every subject with a violation is quarantined and
alerted exactly like a failed batch check; a ledger-wide violation stops every payout (quarantine `ledger`)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

import asyncpg

from services.escrow_settlement import notice_store, outgoing
from services.escrow_settlement.codec import order_book_of, transfer_book_of
from services.escrow_settlement.ledger.accounts import Account, AccountKind, OrderRef
from services.escrow_settlement.ledger.invariants import Violation, check_ledger
from services.escrow_settlement.ledger.journal import EntryKind, JournalEntry, Posting
from services.escrow_settlement.ledger.state import LedgerState
from services.escrow_settlement.notice_store import AlertRow
from services.escrow_settlement.subjects import subject_merchant
from shared.contracts.settlement import AlertSeverity
from shared.infra import outbox

LEDGER = "ledger"


async def load_ledger(conn: asyncpg.Connection) -> tuple[LedgerState, list[JournalEntry]]:
    books = {
        r["order_key"]: order_book_of(r["book"]) for r in await conn.fetch("SELECT order_key, book FROM order_books")
    }
    transfers = {r["instruction_id"]: transfer_book_of(r["book"])
                 for r in await conn.fetch("SELECT instruction_id, book FROM transfers")}  # fmt: skip
    balances = {Account(AccountKind(r["kind"]), r["owner"]): r["balance"]
                for r in await conn.fetch("SELECT kind, owner, balance FROM accounts WHERE balance <> 0")}  # fmt: skip
    postings: defaultdict[uuid.UUID, list[Posting]] = defaultdict(list)
    for r in await conn.fetch("SELECT entry_id, kind, owner, amount FROM postings ORDER BY entry_id, line"):
        postings[r["entry_id"]].append(Posting(Account(AccountKind(r["kind"]), r["owner"]), r["amount"]))
    journal = [
        JournalEntry(
            r["entry_id"], r["cause_id"], r["business_date"], EntryKind(r["kind"]), tuple(postings[r["entry_id"]]),
            r["merchant_id"], OrderRef(*r["order_key"].split("/", 1)) if r["order_key"] else None, r["ticket_no"],
            r["memo"],
        )
        for r in await conn.fetch("SELECT * FROM journal_entries ORDER BY seq")
    ]  # fmt: skip
    return LedgerState(orders=books, transfers=transfers, balances=balances), journal


def stopped_subject(v: Violation, journal: dict[str, str]) -> str:
    """The order key or merchant id whose processing a violation stops (`ledger` when it is ledger-wide)."""
    subject = v.subject.split("#", 1)[0]  # a voucher `order#ticket`
    if v.rule == "entry_balances":
        return journal.get(subject, LEDGER)
    if ":" in subject:  # an account `kind:owner`
        subject = subject.split(":", 1)[1]
    return LEDGER if subject in (LEDGER, "escrow-bank") else subject


async def check(conn: asyncpg.Connection, schema: str, now: datetime) -> list[Violation]:
    """Run every invariant over the whole ledger; quarantine and alert what fails (in the caller's transaction)."""
    state, journal = await load_ledger(conn)
    found = check_ledger(state, journal)
    owner = {str(e.entry_id): e.order.key if e.order else e.merchant_id for e in journal}
    cause = f"audit/{now.isoformat()}"
    events, alerts, by_subject = [], [], defaultdict[str, list[Violation]](list)
    for v in found:
        subject = stopped_subject(v, owner)
        merchant = "*" if subject == LEDGER else subject_merchant(subject)
        by_subject[subject].append(v)
        events.append(outgoing.violation_raised(cause, subject, merchant, v, now))
        alerts.append(AlertRow(outgoing.alert_id(cause, f"violation/{v.rule}", v.subject), f"invariant:{v.rule}",
                               AlertSeverity.CRITICAL, subject, merchant, f"{v.subject}: {v.detail}", cause))  # fmt: skip
    for subject, violations in by_subject.items():
        merchant = "*" if subject == LEDGER else subject_merchant(subject)
        await notice_store.quarantine(conn, subject, merchant, violations, now)
    await notice_store.record_alerts(conn, alerts, now)
    await outbox.append(conn, schema, events)
    return found
