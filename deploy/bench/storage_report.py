"""The storage benchmark's results: a summary in the usual table, and one table of samples per schema."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from deploy.bench.common import Report, percentile
from deploy.bench.storage_probe import MESSAGING, PRUNED, PruneWatch, Sample, TimerSteps

MB = 1024 * 1024


@dataclass
class StorageReport(Report):
    """A report with tables of its own after the summary (the samples of each schema)."""

    extra: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        return super().markdown() + "".join(self.extra)


def summary(
    report: Report,
    total: int,
    per_second: float,
    loaded: float,
    latencies: list[float],
    during: list[bool],
    prunes: PruneWatch,
    steps: dict[str, TimerSteps],
) -> None:
    report.add("paid orders streamed (payment + Issue each)", f"{total:,} at {per_second:,.0f}/s asked")
    report.add("  issued at", f"{total / loaded:,.0f} orders/s over {loaded / 60:,.1f} min")
    report.add(
        "  ingest→TicketsIssued latency p50 / p99 / max",
        f"{percentile(latencies, 0.5):,.0f} / {percentile(latencies, 0.99):,.0f} / {max(latencies):,.0f} ms",
    )
    hit = [ms for ms, d in zip(latencies, during, strict=True) if d]
    clear = [ms for ms, d in zip(latencies, during, strict=True) if not d]
    report.add(
        "  p50 / p99 of orders published up to 1 s before a prune was seen running",
        f"{percentile(hit, 0.5):,.0f} / {percentile(hit, 0.99):,.0f} ms ({len(hit):,} orders)",
    )
    report.add(
        "  p50 / p99 of the other orders",
        f"{percentile(clear, 0.5):,.0f} / {percentile(clear, 0.99):,.0f} ms ({len(clear):,} orders)",
    )
    seen = sorted(prunes.longest.values())
    report.add(
        f"prune statements seen running (pg_stat_activity every {prunes.every * 1000:.0f} ms)",
        f"{len(seen):,}; longest {1000 * seen[-1]:,.0f} ms, p50 {1000 * percentile(seen, 0.5):,.0f} ms"
        if seen
        else "none (each shorter than the polling interval)",
    )
    for service, s in sorted(steps.items()):
        report.add(
            f"  {service}: pruning steps (both deletes), mean / slowest bucket",
            f"{s.count:,} steps, {s.mean_ms:,.1f} ms / ≤ {s.slowest_bucket_ms:,.0f} ms",
        )


def tables(
    report: Report,
    schemas: Sequence[str],
    samples: list[Sample],
    idle: Sample,
    issued_per_second: float,
    retention_minutes: float,
    prune_seconds: float,
) -> None:
    window = issued_per_second * (retention_minutes * 60 + prune_seconds)
    half = next(s for s in samples if s.orders >= samples[-1].orders / 2)
    end = samples[-1]
    for schema in schemas:
        peak = {name: max(s.table(schema, name).rows for s in samples) for name in PRUNED}
        report.add(
            f"{schema}: peak inbox / outbox rows",
            f"{peak['inbox']:,} / {peak['outbox']:,}: {peak['inbox'] / window:,.1f} / {peak['outbox'] / window:,.1f}"
            f" per order of one retention + prune interval ({window:,.0f} orders)",
        )
        report.add(
            "  messaging tables at half the run / at its end / idle one retention later",
            f"{half.messaging_bytes(schema) / MB:,.1f} / {end.messaging_bytes(schema) / MB:,.1f} / "
            f"{idle.messaging_bytes(schema) / MB:,.1f} MB",
        )
        report.add(
            "  inbox + outbox rows idle one retention later; dead letters kept",
            f"{idle.table(schema, 'inbox').rows + idle.table(schema, 'outbox').rows:,}; "
            f"{idle.table(schema, 'dead_letters').rows:,}",
        )
        grown = (end.domain(schema).bytes - samples[0].domain(schema).bytes) / max(end.orders, 1)
        report.add(
            "  domain tables at the end (they grow, by design)",
            f"{end.domain(schema).rows:,} rows, {end.domain(schema).bytes / MB:,.1f} MB ({grown:,.0f} bytes an order)",
        )
    if isinstance(report, StorageReport):
        report.extra += [_samples(schema, [*samples, idle]) for schema in schemas]


def _samples(schema: str, samples: list[Sample]) -> str:
    other = [n for n in MESSAGING if n not in (*PRUNED, "dead_letters")]
    head = (
        f"\n`{schema}` (rows are exact in the messaging tables, estimated in the domain ones; the last line is one "
        "retention after the load)\n\n| orders issued | min | inbox rows | inbox MB | outbox rows | outbox MB | "
        "dead letters | other messaging MB | domain rows | domain MB | RSS MB |\n|" + "---|" * 11 + "\n"
    )
    lines = []
    for s in samples:
        inbox, outbox, dead = s.table(schema, "inbox"), s.table(schema, "outbox"), s.table(schema, "dead_letters")
        others = sum(s.table(schema, n).bytes for n in other)
        domain = s.domain(schema)
        lines.append(
            f"| {s.orders:,} | {s.seconds / 60:,.1f} | {inbox.rows:,} | {inbox.bytes / MB:,.1f} | {outbox.rows:,} | "
            f"{outbox.bytes / MB:,.1f} | {dead.rows:,} | {others / MB:,.2f} | {domain.rows:,} | "
            f"{domain.bytes / MB:,.1f} | {s.rss.get(schema, 0.0):,.0f} |\n"
        )
    return head + "".join(lines)
