"""Counters moved by the escrow ledger's entries and the bank transfers.

Every posting is counted on its account kind's natural side (docs/ledger.md: a debit is positive, only the bank's
cash is debit-normal): `ledger.<kind>.in` is what came into accounts of that kind, `ledger.<kind>.out` what left,
so in - out is the kind's balance, the same number settlement's journal sums to for the same entries.
"""

from __future__ import annotations

from services.ops.domain.state import PartitionState
from shared.contracts.settlement import (
    LedgerEntryPosted,
    PayoutInstructed,
    RefundInstructed,
    TransferConfirmed,
    TransferKind,
    TransferRejected,
)

DEBIT_NORMAL = frozenset({"bank_cash"})


def on_entry(state: PartitionState, entry: LedgerEntryPosted) -> None:
    m = entry.merchant_id
    state.add(m, "ledger_entries")
    for line in entry.postings:
        natural = line.amount if line.account_kind in DEBIT_NORMAL else -line.amount
        if natural > 0:
            state.add(m, f"ledger.{line.account_kind}.in", natural)
        elif natural < 0:
            state.add(m, f"ledger.{line.account_kind}.out", -natural)


Transfer = PayoutInstructed | RefundInstructed | TransferConfirmed | TransferRejected


def on_transfer(state: PartitionState, event: Transfer) -> None:
    m = event.merchant_id
    if isinstance(event, PayoutInstructed | RefundInstructed):
        name = "payouts_instructed" if isinstance(event, PayoutInstructed) else "refunds_instructed"
        state.add(m, name)
        state.add(m, f"{name}_amount", event.amount)
        return
    kind = "payouts" if event.transfer is TransferKind.PAYOUT else "refunds"
    if isinstance(event, TransferConfirmed):
        state.add(m, f"{kind}_confirmed")
        state.add(m, f"{kind}_confirmed_amount", event.amount)
    else:
        state.add(m, f"{kind}_rejected")
        state.add(m, f"{kind}_rejected_amount", event.amount)
