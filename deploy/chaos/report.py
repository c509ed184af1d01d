"""The run's figures: faults by kind with the time the platform took to recover from each, and every check's
counts; printed for a person and kept as JSON."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from typing import Any, TextIO

from deploy.chaos.checks import Check
from deploy.chaos.driver import Injected
from deploy.chaos.observer import Observed
from deploy.chaos.stream import Sent


def recovery_seconds(fault: Injected, sent: list[Sent], seen: Observed) -> float:
    """From the fault's start until every request it held up was answered (the requests sent before its cause was
    over whose reply came after it began), or until its cause was over if that came later."""
    last = fault.over
    for request in sent:
        if request.sent_at > fault.over:
            continue
        replies = seen.replies.get(request.request_id)
        first = min((r.seen_at for r in replies.values()), default=None) if replies else None
        if first is not None and first >= fault.began:
            last = max(last, first)
    return last - fault.began


def summary(run: dict[str, Any], injected: list[Injected], sent: list[Sent], seen: Observed,
            checks: list[Check]) -> dict[str, Any]:  # fmt: skip
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for fault in injected:
        by_kind[fault.kind].append({
            "target": fault.target, "detail": fault.detail, "outage_s": round(fault.over - fault.began, 2),
            "recovered_s": round(recovery_seconds(fault, sent, seen), 2),
        })  # fmt: skip
    faults = {
        kind: {"count": len(items), "max_outage_s": max(i["outage_s"] for i in items),
               "max_recovered_s": max(i["recovered_s"] for i in items), "each": items}
        for kind, items in sorted(by_kind.items())
    }  # fmt: skip
    return {
        **run,
        "requests": len(sent),
        "faults": faults,
        "checks": [{**asdict(c), "clean": c.clean} for c in checks],
        "lost": sum(c.lost for c in checks),
        "duplicated": sum(c.duplicated for c in checks),
        "wrong": sum(c.wrong for c in checks),
        "clean": all(c.clean for c in checks),
    }


def human(result: dict[str, Any], out: TextIO) -> None:
    out.write(f"chaos run: {result['orders']:,} orders, seed {result['seed']}, {result['requests']:,} requests, "
              f"{result['seconds']:.0f} s\n\nfaults injected (outage: the cause in place, "
              "e.g. kill and restart; recovered: from the fault's start until every request it held up was "
              "answered):\n")  # fmt: skip
    for kind, f in result["faults"].items():
        out.write(f"  {kind:<22} x{f['count']:<4} outage max {f['max_outage_s']:6.2f} s   "
                  f"recovered max {f['max_recovered_s']:6.2f} s\n")  # fmt: skip
    out.write(
        f"\nstories: {result['stories']}; refused (ticket not yet known) then granted on retry: "
        f"{result['refused_then_granted_on_retry']}; requests sent again after a broker error: "
        f"{result['resends']}; stuck: {result['stuck'] or 'none'}; consumers and outboxes quiet "
        f"{result['quiet_after_s']} s after the last answer (-1: not within the limit)\n"
    )
    for what, count in result.get("busy", {}).items():
        out.write(f"  still busy at the limit: {what}: {count}\n")
    out.write("\nchecks:\n")
    for c in result["checks"]:
        mark = "ok  " if c["clean"] else "FAIL"
        out.write(f"  {mark} {c['name']:<48} checked {c['checked']:>8,}  lost {c['lost']}  "
                  f"duplicated {c['duplicated']}  wrong {c['wrong']}\n")  # fmt: skip
        for example in c["examples"]:
            out.write(f"         {example}\n")
    verdict = "CLEAN" if result["clean"] else "NOT CLEAN"
    out.write(f"\n{verdict}: lost {result['lost']}, duplicated {result['duplicated']}, wrong {result['wrong']}\n")
