"""A short fuzz campaign on the test platform (the full one is `make fuzz`): mutated messages on both ingestion
topics, each answered specifically, none stalling a consumer or killing a process, none refused that changed
state."""

from __future__ import annotations

from deploy.fuzz.campaign import run, summary
from shared.settings import Settings
from tests.support.merchants import fresh_merchant
from tests.support.processes import Platform

INPUTS = 2000


async def test_two_thousand_mutated_messages_are_each_answered_and_stop_nothing(
    platform: Platform, topics: Settings
) -> None:
    merchant_id = await fresh_merchant(topics)
    report = await run(topics.kafka_bootstrap, merchant_id, INPUTS, seed=11, settle_seconds=120)
    report.dead_processes = [
        name for name, p in platform.services.items() if p.process and p.process.poll() is not None
    ]
    assert report.ok(), (
        summary(report) + f"\nunanswered: {report.unanswered[:10]}\nchanged: {report.state_changed_while_refused[:10]}"
    )
    assert report.inputs == INPUTS and len(report.by_strategy) > 20
