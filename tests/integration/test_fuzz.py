"""A short fuzz campaign on the test platform (the full one is `make fuzz`): mutated messages on both ingestion
topics, each answered specifically, none stalling a consumer or killing a process, none refused that changed
state."""

from __future__ import annotations

from deploy.fuzz.campaign import run, summary
from deploy.fuzz.mutations import BYTE_MUTATIONS, JSON_MUTATIONS
from shared.settings import Settings
from tests.support.merchants import fresh_merchant
from tests.support.processes import Platform

# Every way the campaign mutates a message (25) is drawn well before 300 inputs with this seed; 1,000 keep some
# volume behind each. The answers' wait is fixed (a WriteOff waits for its ticket, an unknown payment for the
# verifier to give up), the rest of the time is the services' work per input: 2,000 took 20-21 s, 1,000 take 17 s.
INPUTS = 1000
EVERY_STRATEGY = (
    {f"{what} bytes: {name}" for what in ("request", "payment") for name in BYTE_MUTATIONS}
    | {f"request JSON: {name}" for name in JSON_MUTATIONS}
    | {"request JSON: a duplicate key"}
    | {f"request, signed Data: {name}" for name in JSON_MUTATIONS}
    | {f"payment, re-signed: {name}" for name in JSON_MUTATIONS}
)


async def test_a_thousand_mutated_messages_of_every_strategy_are_each_answered_and_stop_nothing(
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
    assert report.inputs == INPUTS and set(report.by_strategy) == EVERY_STRATEGY
