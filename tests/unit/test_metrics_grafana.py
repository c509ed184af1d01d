"""The committed Grafana dashboard and alert rules name only metrics the services export."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import shared.infra.metrics  # noqa: F401  (registers the metrics)

GRAFANA = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def exported() -> set[str]:
    return {sample.name for family in REGISTRY.collect() for sample in family.samples} | {
        family.name for family in REGISTRY.collect()
    }


def named_in(text: str) -> set[str]:
    return set(re.findall(r"ecticket_[a-z_]+", text))


def test_every_metric_the_dashboard_and_the_alerts_use_is_exported() -> None:
    dashboard = json.loads((GRAFANA / "ecticket-dashboard.json").read_text())
    used = named_in(json.dumps(dashboard)) | named_in((GRAFANA / "alerts.yml").read_text())
    assert used, "no metric found"
    known = exported()
    unknown = {name for name in used if name not in known and not any(name.removesuffix(s) in known for s in SUFFIXES)}
    assert unknown == set()


def test_the_alerts_cover_lag_outbox_age_dead_letters_and_invariant_violations() -> None:
    rules = (GRAFANA / "alerts.yml").read_text()
    for metric in ("ecticket_consumer_lag", "ecticket_outbox_oldest_age_seconds", "ecticket_dead_letters_open",
                   "ecticket_settlement_quarantined_subjects"):  # fmt: skip
        assert metric in rules
