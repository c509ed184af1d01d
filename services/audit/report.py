"""The verification's report: a summary for people, JSON for machines, and the progress line while it runs."""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TextIO

from services.audit.domain.records import Finding
from services.audit.domain.verify import Verifier
from services.escrow_settlement.domain.accounts import natural


@dataclass
class Progress:
    """One line on stderr, rewritten at most every `every` seconds: records read of those to read, and the rate."""

    total: int
    out: TextIO = field(default_factory=lambda: sys.stderr)
    every: float = 0.5
    enabled: bool = True
    done: int = 0
    _started: float = field(default_factory=time.monotonic)
    _shown: float = 0.0

    def advance(self, label: str, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if self.enabled and now - self._shown >= self.every:
            self._shown = now
            self.out.write("\r" + self.line(label, now))
            self.out.flush()

    def line(self, label: str, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self._started, 1e-9)
        share = self.done / self.total if self.total else 1.0
        bar = "#" * int(share * 30)
        return (
            f"[{bar:<30}] {share:6.1%} {self.done:,}/{self.total:,} records, {self.done / elapsed:,.0f}/s  {label:<40}"
        )

    def close(self) -> None:
        if self.enabled:
            self.out.write("\r" + self.line("done") + "\n")

    @property
    def rate(self) -> float:
        return self.done / max(time.monotonic() - self._started, 1e-9)


def as_json(v: Verifier, signed: dict[str, int], reconciled: list[Finding] | None) -> dict[str, Any]:
    findings = [f.as_dict() for f in v.findings.items]
    if reconciled is not None:
        findings += [f.as_dict() for f in reconciled]
    counts = dict(v.findings.counts)
    for f in reconciled or []:
        counts[f"{f.check}.{f.kind}"] = counts.get(f"{f.check}.{f.kind}", 0) + 1
    return {
        "clean": not counts,
        "records": v.records,
        "events": dict(sorted(v.events.items())),
        "chain": {
            name: {
                "events": sum(1 for p in c.places if p >= 0),
                "highest_seq": c.highest,
                "signed_up_to": signed.get(name, 0),
                "unsigned_tail": c.highest - signed.get(name, 0),
            }
            for name, c in sorted(v.chain.chains.items())
        },
        "republished": v.chain.republished,
        "unchained": v.chain.unchained,
        "checkpoints": len(v.checkpoints),
        "tickets": {
            "known": len(v.tickets.tickets),
            "decisions_rederived": v.tickets.rederived,
            "refusals": v.tickets.refusals,
        },
        "ledger": {
            "entries_derived": v.ledger.entries,
            "entries_recorded": v.ledger.recorded,
            "facts_quarantined": v.ledger.diverted,
            "orders": len(v.ledger.books),
        },
        "inputs": inputs_summary(v),
        "money_by_merchant": money_by_merchant(v),
        "finding_counts": dict(sorted(counts.items())),
        "findings": findings,
        "findings_listed": len(findings),
    }


def merge(parts: list[dict[str, Any]], reconciled: list[Finding] | None = None) -> dict[str, Any]:
    """One report from the workers' (services/audit/workers.py), the first worker's first: the chain and the record
    count are the first worker's (it read the chain whole), everything else is summed over the workers, whose
    merchants do not overlap. `reconciled`: what the parent found itself (the platform's own accounts)."""
    first = parts[0]
    findings = [f for part in parts for f in part["findings"]] + [f.as_dict() for f in reconciled or []]
    counts: Counter[str] = Counter()
    for part in parts:
        counts.update(part["finding_counts"])
    counts.update(f"{f.check}.{f.kind}" for f in reconciled or [])
    money: dict[str, Counter[str]] = {}
    for part in parts:
        for merchant, by_kind in part["money_by_merchant"].items():
            money.setdefault(merchant, Counter()).update(by_kind)
    inputs = [part["inputs"] for part in parts if part["inputs"] is not None]
    return {
        **first,
        "clean": not counts,
        "events": dict(sorted(_summed(part["events"] for part in parts).items())),
        "tickets": _summed(part["tickets"] for part in parts),
        "ledger": _summed(part["ledger"] for part in parts),
        "inputs": _summed(inputs) if inputs else None,
        "money_by_merchant": _nonzero(money),
        "finding_counts": dict(sorted(counts.items())),
        "findings": findings,
        "findings_listed": len(findings),
        "workers": [w for part in parts for w in part.get("workers", [])],
    }


def _summed(parts: Iterable[dict[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(total)


def inputs_summary(v: Verifier) -> dict[str, int] | None:
    """The archive of signed inputs: None when it was not re-verified (no merchant keys given)."""
    if v.inputs is None:
        return None
    from services.audit.inputs import InputCheck  # loaded by then (cli.inputs_check); not for runs without keys

    if not isinstance(v.inputs, InputCheck):
        return None
    checked = v.inputs
    return {"archived": checked.archived, "verified": checked.verified, "decisions_traced": checked.traced}


def money_by_merchant(v: Verifier) -> dict[str, dict[str, int]]:
    """Per merchant: what was paid, and where the money is now, by account kind (natural balances, not zero)."""
    by: dict[str, Counter[str]] = {}
    for account, raw in v.ledger.accounts().items():
        merchant = account.owner.split("/", 1)[0]
        by.setdefault(merchant, Counter())[account.kind.value] += natural(account, raw)
    for book in v.ledger.books.values():
        paid = book.paid + sum(p.amount for p in book.extra_payments)
        by.setdefault(book.order.merchant_id, Counter())["paid"] += paid
    return _nonzero(by)


def _nonzero(by: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    """Amounts that are not zero (an account the replay touched and left empty is no money anywhere, and whether
    one was touched depends on how its facts were batched)."""
    return {m: {k: v for k, v in sorted(c.items()) if v} for m, c in sorted(by.items())}


def human(report: dict[str, Any], out: TextIO, limit: int = 50) -> None:
    w = out.write
    w(f"Audit of {report['records']:,} records: {'CLEAN' if report['clean'] else 'FINDINGS'}\n\n")
    w("Hash chains (per producing service):\n")
    for name, c in report["chain"].items():
        tail = f", {c['unsigned_tail']:,} after the last signed checkpoint" if c["unsigned_tail"] else ""
        w(f"  {name:<22} {c['events']:>10,} events, up to #{c['highest_seq']:,}, signed up to #{c['signed_up_to']:,}")
        w(f"{tail}\n")
    w(f"  republished (same bytes, same link): {report['republished']:,}; unchained: {report['unchained']:,}\n\n")
    t, ledger = report["tickets"], report["ledger"]
    w(f"Tickets: {t['known']:,} known, {t['decisions_rederived']:,} decisions re-derived byte for byte\n")
    w(f"Ledger: {ledger['orders']:,} orders, {ledger['entries_derived']:,} entries derived, ")
    w(f"{ledger['entries_recorded']:,} recorded, {ledger['facts_quarantined']:,} facts quarantined\n")
    if (inputs := report.get("inputs")) is None:
        w("Signed inputs: not re-verified (no merchant keys: --merchant-keys or --trust-local-merchants)\n\n")
    else:
        w(f"Signed inputs: {inputs['archived']:,} archived, {inputs['verified']:,} signatures verified, ")
        w(f"{inputs['decisions_traced']:,} request and payment decisions traced to theirs\n\n")
    if workers := report.get("workers"):
        each = (f"#{x['worker']} {x['events_replayed']:,} events, peak {x['peak_mb']} MB" for x in workers)
        w(f"Workers: {'; '.join(each)}\n\n")
    if report["finding_counts"]:
        w("Findings:\n")
        for name, count in report["finding_counts"].items():
            w(f"  {name:<36} {count:>8,}\n")
        w("\n")
        for f in report["findings"][:limit]:
            merchant = f" [{f['merchant_id']}]" if f["merchant_id"] else ""
            w(f"  {f['check']}.{f['kind']} at {f['where']}{merchant}: {f['detail']}\n")
        if len(report["findings"]) > limit:
            w(f"  ... {len(report['findings']) - limit:,} more in the JSON report\n")
