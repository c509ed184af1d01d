"""A merchant's daily statement (pure): opening balance, every movement with the event that caused it, closing
balance, as CSV or JSON.

The balance is what the platform owes the merchant: released face values (payable) + refund fees + payouts
instructed but not yet confirmed by the bank (in transit). Amounts are natural: positive = owed to the merchant.
A payout instruction moves money between two of these accounts (the total does not change); the bank's
confirmation is the movement that takes it out. Movements are listed in recording order; the set of movements
and the balances do not depend on the order in which the facts arrived.

Bank reconciliation (domain/reconciliation.py): `unmatched` lists the merchant's payments (and transfers) up to the
day that the bank's statement does not match (yet), and `held` what of the merchant's money the payout keeps back
for them (released face values and fees, and the consumer refunds of those orders). In the CSV an `unmatched` row
carries the bank's line id in `cause_id`, the difference in `entry_kind`, the order in `ticket_trade_no`, the
ledger's amount in `amount` and the bank's in `balance` (0: that side has none); the `held` row's `amount` is the
money held back. Both come before the closing rows.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass
from datetime import date

from services.escrow_settlement.domain.accounts import AccountKind

ACCOUNTS = (AccountKind.MERCHANT_PAYABLE, AccountKind.MERCHANT_FEE_INCOME, AccountKind.MERCHANT_PAYOUT_IN_TRANSIT)
COLUMNS = (
    "record",
    "entry_id",
    "cause_id",
    "entry_kind",
    "account",
    "ticket_trade_no",
    "ticket_no",
    "amount",
    "balance",
)


@dataclass(frozen=True)
class Movement:
    entry_id: str
    cause_id: str
    entry_kind: str
    account: str
    ticket_trade_no: str | None
    ticket_no: str | None
    amount: int  # natural: + owed to the merchant
    balance: int  # the merchant's total after this movement


@dataclass(frozen=True)
class UnmatchedLine:
    """A line of the bank's statement, or a ledger payment or transfer, that the other side does not match."""

    line_id: str
    status: str  # open (waiting for the other side), amount_differs, bank_only, ledger_only
    ticket_trade_no: str | None
    ledger_amount: int  # 0: the ledger has none
    bank_amount: int  # 0: the bank has none


@dataclass(frozen=True)
class Statement:
    merchant_id: str
    business_date: date
    opening: dict[str, int]  # per account, and "total"
    movements: tuple[Movement, ...]
    closing: dict[str, int]
    unmatched: tuple[UnmatchedLine, ...] = ()
    held: int = 0  # kept back from payouts until the bank's statement matches (or operations resolve it)


def build(
    merchant_id: str,
    day: date,
    opening_raw: dict[str, int],
    postings: list[dict[str, object]],
    unmatched: tuple[UnmatchedLine, ...] = (),
    held: int = 0,
) -> Statement:
    """`opening_raw`: raw balances before `day` per account kind; `postings`: the day's rows in recording order
    (entry_id, cause_id, entry_kind, account, ticket_trade_no, ticket_no, amount raw); `unmatched` and `held`: the
    bank reconciliation's view of the merchant's money up to the day."""
    balances = {k.value: -opening_raw.get(k.value, 0) for k in ACCOUNTS}  # all three are credit-normal
    opening = {**balances, "total": sum(balances.values())}
    total, movements = opening["total"], []
    for row in postings:
        amount, account = -int(str(row["amount"])), str(row["account"])
        balances[account] += amount
        total += amount
        entry = (str(row["entry_id"]), str(row["cause_id"]), str(row["entry_kind"]))
        tickets = (_text(row["ticket_trade_no"]), _text(row["ticket_no"]))
        movements.append(Movement(*entry, account, *tickets, amount, total))
    return Statement(merchant_id, day, opening, tuple(movements), {**balances, "total": total}, unmatched, held)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def as_json(statement: Statement) -> str:
    data = asdict(statement)
    data["business_date"] = statement.business_date.isoformat()
    return json.dumps(data, indent=2)


def as_csv(statement: Statement) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("merchant_id", "business_date", *COLUMNS))
    head = (statement.merchant_id, statement.business_date.isoformat())
    for account, amount in statement.opening.items():
        writer.writerow((*head, "opening", "", "", "", account, "", "", "", amount))
    for m in statement.movements:
        tickets = (m.ticket_trade_no or "", m.ticket_no or "")
        writer.writerow(
            (*head, "movement", m.entry_id, m.cause_id, m.entry_kind, m.account, *tickets, m.amount, m.balance)
        )
    for u in statement.unmatched:
        writer.writerow(
            (
                *head,
                "unmatched",
                "",
                u.line_id,
                u.status,
                "",
                u.ticket_trade_no or "",
                "",
                u.ledger_amount,
                u.bank_amount,
            )
        )
    if statement.held or statement.unmatched:
        writer.writerow((*head, "held", "", "", "", "", "", "", statement.held, ""))
    for account, amount in statement.closing.items():
        writer.writerow((*head, "closing", "", "", "", account, "", "", "", amount))
    return out.getvalue()
