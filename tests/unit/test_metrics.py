"""The metrics the consumer, the timers and the probes record, as Prometheus would scrape them."""

from __future__ import annotations

import time
import urllib.request

import pytest
from prometheus_client import REGISTRY

from shared.infra import metrics
from shared.infra.deadletters import DeadLetter, Stage
from shared.infra.messages import Inbound


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_batch_counts_its_records_per_topic_and_observes_its_size_and_duration() -> None:
    before = sample("ecticket_messages_consumed_total", service="unit", topic="t.a")
    sizes = sample("ecticket_consumer_batch_size_count", service="unit")
    metrics.batch_applied("unit", ["t.a", "t.a", "t.b"], 0.02)
    assert sample("ecticket_messages_consumed_total", service="unit", topic="t.a") == before + 2
    assert sample("ecticket_consumer_batch_size_count", service="unit") == sizes + 1
    assert sample("ecticket_consumer_batch_duration_seconds_bucket", service="unit", le="0.025") >= 1


def test_dead_letters_are_counted_by_topic_and_stage() -> None:
    letter = DeadLetter(Inbound("t.c", 0, 1, None, b"x", 0), Stage.HANDLE, "boom")
    before = sample("ecticket_messages_rejected_total", service="unit", topic="t.c", stage="handle")
    metrics.dead_lettered("unit", [letter])
    assert sample("ecticket_messages_rejected_total", service="unit", topic="t.c", stage="handle") == before + 1


def test_a_failed_timer_step_is_counted() -> None:
    before = sample("ecticket_timer_step_failures_total", service="unknown", timer="sweep")
    metrics.timer_step("sweep", time.perf_counter(), failed=True)
    assert sample("ecticket_timer_step_failures_total", service="unknown", timer="sweep") == before + 1


def test_the_endpoint_serves_the_text_format_and_a_taken_port_falls_back_to_a_free_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("METRICS_PORT", "0")
    port = metrics.serve("unit")
    assert port
    monkeypatch.setenv("METRICS_PORT", str(port))
    second = metrics.serve("unit")  # the same port again: taken by the first
    assert second and second != port
    with urllib.request.urlopen(f"http://127.0.0.1:{second}/metrics", timeout=5) as response:
        assert b"ecticket_messages_consumed_total" in response.read()
