"""Each payout against what was due (pure): a payout instructed for business day D may pay at most what the
merchant's payable and fee accounts held from entries dated D or earlier, net of the payouts before it.

The replay posts every voucher's entries before it reaches the instructions (topic order), so its "due" includes
anything that arrived late at the service with an earlier date: a payout can be smaller than this (money held back
by reconciliation, quarantine, a fact not yet arrived at run time), never larger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.audit.domain.records import Finding, Findings
from services.escrow_settlement.domain.accounts import AccountKind, natural
from services.escrow_settlement.domain.facts import PayoutSent
from services.escrow_settlement.domain.journal import JournalEntry

KINDS = (AccountKind.MERCHANT_PAYABLE, AccountKind.MERCHANT_FEE_INCOME)


@dataclass
class PayoutChecks:
    findings: Findings
    held: dict[str, Counter[tuple[AccountKind, str]]] = field(default_factory=dict)  # merchant -> (kind, day) -> NT$
    checked: int = 0

    def on_entries(self, entries: Iterable[JournalEntry]) -> None:
        for entry in entries:
            for p in entry.postings:
                if p.account.kind in KINDS:
                    day = entry.on.isoformat()
                    self.held.setdefault(p.account.owner, Counter())[(p.account.kind, day)] += natural(
                        p.account, p.amount
                    )

    def check(self, sent: PayoutSent) -> None:
        """Before `sent` is posted: its parts against the merchant's balances as of its day."""
        self.checked += 1
        as_of = sent.on.isoformat()
        balances = self.held.get(sent.merchant_id, Counter())
        due = {kind: sum(v for (k, day), v in balances.items() if k is kind and day <= as_of) for kind in KINDS}
        payable, fee = due[AccountKind.MERCHANT_PAYABLE], due[AccountKind.MERCHANT_FEE_INCOME]
        if sent.payable_part > payable or sent.fee_part > fee:
            detail = (
                f"payout {sent.instruction_id} for {as_of} pays NT${sent.payable_part} + NT${sent.fee_part} in fees;"
                f" due as of that day: NT${payable} + NT${fee}"
            )
            self.findings.add(Finding("ledger", "payout_exceeds_due", sent.merchant_id, detail, sent.merchant_id))
