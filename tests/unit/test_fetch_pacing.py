"""Fetch pacing: a consumer's fetches wait briefly at the broker while records flow, and longer once it idles.

No consumer is started here: aiokafka builds its fetcher only when a consumer starts, so the tests stand one in
with the same attribute, and one test checks that the pinned aiokafka's fetcher still reads its
wait from that attribute (an upgrade that moves it fails here, not as a silent rise in latency)."""

from __future__ import annotations

import inspect
import time
from types import SimpleNamespace
from typing import cast

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.fetcher import Fetcher

from shared.infra.fetch_pacing import FetchPacing


def consumer_with(fetcher: object | None) -> AIOKafkaConsumer:
    """What the pacing reads of a consumer: its fetcher (None before start())."""
    return cast(AIOKafkaConsumer, SimpleNamespace(_fetcher=fetcher))


def consumer_waiting(ms: int) -> AIOKafkaConsumer:
    return consumer_with(SimpleNamespace(_fetch_max_wait_ms=ms, _fetch_min_bytes=1))


def test_the_pinned_aiokafka_builds_each_fetch_with_the_wait_the_pacing_sets() -> None:
    assert "self._fetch_max_wait_ms = fetch_max_wait_ms" in inspect.getsource(Fetcher.__init__)
    assert "self._fetch_max_wait_ms," in inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_min_bytes = fetch_min_bytes" in inspect.getsource(Fetcher.__init__)
    assert "self._fetch_min_bytes," in inspect.getsource(Fetcher._get_actions_per_node)


def test_the_pinned_aiokafka_sends_no_fetch_to_a_node_while_records_it_brought_are_unread() -> None:
    # Why a long idle wait costs nothing when records come again: the next fetch is built after they are read.
    actions = inspect.getsource(Fetcher._get_actions_per_node)
    assert "backoff = record.calculate_backoff()" in actions
    assert "if node_id in backoff_by_nodes:" in actions


def test_a_poll_that_returned_records_shortens_the_wait() -> None:
    pacing = FetchPacing(consumer_waiting(50), busy_ms=5, idle_ms=50)
    pacing.after_poll(12)
    assert pacing.wait_ms == 5


def test_a_busy_consumers_fetch_gathers_a_few_records_before_it_answers() -> None:
    pacing = FetchPacing(consumer_waiting(50), busy_ms=5, busy_bytes=4096, idle_ms=50)
    pacing.after_poll(12)
    assert (pacing.wait_ms, pacing.min_bytes) == (5, 4096)


def test_an_empty_poll_right_after_records_keeps_the_short_wait() -> None:
    pacing = FetchPacing(consumer_waiting(50), busy_ms=5, idle_ms=50, idle_after=60)
    pacing.after_poll(3)
    pacing.after_poll(0)
    assert pacing.wait_ms == 5


def test_a_consumer_without_records_for_a_while_goes_back_to_the_long_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    pacing = FetchPacing(consumer_waiting(50), busy_ms=5, idle_ms=50, idle_after=1.0)
    pacing.after_poll(3)
    later = time.monotonic() + 1.5
    monkeypatch.setattr(time, "monotonic", lambda: later)
    pacing.after_poll(0)
    assert pacing.wait_ms == 50


def test_a_consumer_not_started_yet_is_left_alone() -> None:
    pacing = FetchPacing(consumer_with(None))
    pacing.after_poll(5)
    assert pacing.wait_ms is None


def test_a_fetcher_without_the_attribute_turns_pacing_off_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    pacing = FetchPacing(consumer_with(SimpleNamespace()))
    pacing.after_poll(5)
    pacing.after_poll(5)
    assert pacing.wait_ms is None
    assert [r.getMessage() for r in caplog.records].count(
        "aiokafka's fetcher lacks _fetch_max_wait_ms or _fetch_min_bytes: fetch pacing is off"
    ) == 1


def test_a_batch_of_other_services_records_only_makes_the_next_fetches_wait_for_a_fuller_batch() -> None:
    pacing = FetchPacing(consumer_waiting(50), busy_ms=5, busy_bytes=4096, skim_ms=25, skim_bytes=65536)
    pacing.after_poll(9)
    pacing.after_batch(handled=False)
    assert (pacing.wait_ms, pacing.min_bytes) == (25, 65536)


def test_more_records_to_skip_keep_the_consumer_skimming() -> None:
    pacing = FetchPacing(consumer_waiting(50), busy_ms=5, busy_bytes=4096, skim_ms=25, skim_bytes=65536)
    pacing.after_poll(9)
    pacing.after_batch(handled=False)
    pacing.after_poll(40)
    assert (pacing.wait_ms, pacing.min_bytes) == (25, 65536)


def test_a_batch_with_a_record_of_its_own_brings_back_the_short_wait() -> None:
    pacing = FetchPacing(consumer_waiting(50), busy_ms=5, busy_bytes=4096, skim_ms=25, skim_bytes=65536)
    pacing.after_poll(9)
    pacing.after_batch(handled=False)
    pacing.after_poll(40)
    pacing.after_batch(handled=True)
    assert (pacing.wait_ms, pacing.min_bytes) == (5, 4096)


def test_a_skimming_consumer_that_goes_quiet_waits_as_an_idle_one(monkeypatch: pytest.MonkeyPatch) -> None:
    pacing = FetchPacing(
        consumer_waiting(50), busy_ms=5, busy_bytes=4096, idle_ms=50, idle_after=1.0, skim_ms=25, skim_bytes=65536
    )
    pacing.after_poll(9)
    pacing.after_batch(handled=False)
    later = time.monotonic() + 1.5
    monkeypatch.setattr(time, "monotonic", lambda: later)
    pacing.after_poll(0)
    assert (pacing.wait_ms, pacing.min_bytes) == (50, 1)
    pacing.after_poll(3)
    assert (pacing.wait_ms, pacing.min_bytes) == (5, 4096)
