"""What the audit reads (a record of the log, wherever it came from) and what it reports (findings)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as the log holds it: where it is, and its exact key, value and headers."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True, slots=True)
class Finding:
    """Something that does not check out. `check`: which verification (chain, decision, ledger, ...); `kind`: what
    went wrong; `where`: the record or the keys it is about; `merchant_id` when one merchant's, for filtering."""

    check: str
    kind: str
    where: str
    detail: str
    merchant_id: str | None = None
    at_ms: int | None = None  # the Kafka timestamp of the record it is about; None for end-of-log findings

    def as_dict(self) -> dict[str, str | int | None]:
        return {"check": self.check, "kind": self.kind, "where": self.where, "detail": self.detail,
                "merchant_id": self.merchant_id, "at_ms": self.at_ms}  # fmt: skip


@dataclass
class Findings:
    """Findings as they come, and how many of each kind (the list is capped so a broken log cannot exhaust
    memory; the counts are always exact)."""

    cap: int = 10_000
    items: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    current_ms: int | None = None  # the timestamp of the record being checked, stamped on what it raises
    period_ms: tuple[int | None, int | None] = (None, None)  # keep only findings about records in [from, to)

    def add(self, finding: Finding) -> None:
        if finding.at_ms is None and self.current_ms is not None:
            finding = replace(finding, at_ms=self.current_ms)
        start, end = self.period_ms
        if finding.at_ms is not None and (
            (start is not None and finding.at_ms < start) or (end is not None and finding.at_ms >= end)
        ):
            return
        name = f"{finding.check}.{finding.kind}"
        self.counts[name] = self.counts.get(name, 0) + 1
        if len(self.items) < self.cap:
            self.items.append(finding)

    def __len__(self) -> int:
        return sum(self.counts.values())
