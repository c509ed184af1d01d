"""A short fuzz campaign over HTTP on the test platform (the full one is `make fuzz`): mutated requests to the
twelve ECTicket paths, mutated payment results to the webhook and stray requests, each answered specifically (never
a 5xx, a timeout, a trace or a key), none stalling a consumer or killing a process, none refused that changed
state."""

from __future__ import annotations

from deploy.fuzz.http_campaign import OPERATIONS, run, summary
from shared.settings import Settings
from tests.support.http_client import gateway_url
from tests.support.merchants import fresh_merchant
from tests.support.processes import Platform

# 500 draw every kind of input 1,000 did with this seed (31: each byte and JSON mutation of the envelope, of its
# signed Data and of a payment result, and every stray request) over all twelve operations; the ECTicket ones are
# paced at 80 a second: 1,000 took 23 s, 500 take 17-18 s.
INPUTS = 500
PACE = 80  # ECTicket requests a second: under the test gateway's per-merchant limit (100/s), so they reach validation


async def test_five_hundred_mutated_http_requests_are_each_answered_specifically_and_stop_nothing(
    platform: Platform, topics: Settings
) -> None:
    merchant_id = await fresh_merchant(topics)
    report = await run(topics.kafka_bootstrap, gateway_url(), merchant_id, INPUTS, seed=12, rate=PACE)
    report.dead_processes = [
        name for name, p in platform.services.items() if p.process and p.process.poll() is not None
    ]
    assert report.ok(), (
        summary(report)
        + f"\nunanswered: {report.unanswered[:10]}\nleaks: {report.leaks[:5]}"
        + f"\nchanged: {report.state_changed_while_refused[:10]}"
    )
    assert report.inputs == INPUTS and len(report.by_strategy) > 40
    assert {strategy.partition(": ")[0] for strategy in report.by_strategy} >= set(OPERATIONS)
    assert {400, 404, 405, 413} <= set(report.by_status) and report.by_status[200] > 0
