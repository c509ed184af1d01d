"""Every service process serves Prometheus metrics: a real settlement process, fed a generated history, reports what
it consumed, its outbox and its transfers on /metrics; the ops app serves its own beside its dashboard."""

from __future__ import annotations

import asyncio
import re
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings
from shared.topics import ISSUANCE_EVENTS
from tests.integration import test_ops_app
from tests.integration.test_ops_app import OpsProcess
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess
from tests.support.settlement import publish, random_history, synthetic_merchant

ops = test_ops_app.ops  # the session's ops app (a fixture)


@pytest.fixture
async def settlement(topics: Settings) -> AsyncIterator[ServiceProcess]:
    env = {
        "KAFKA_BOOTSTRAP": topics.kafka_bootstrap,
        "DATABASE_URL": topics.database_url,
        "SETTLEMENT_AUTOMATIC_PAYOUTS": "0",
        "METRICS_PORT": str(free_port()),
    }
    process = ServiceProcess("escrow_settlement", Path(tempfile.mkdtemp(prefix="ops-metrics-")), env)
    await process.start()
    try:
        yield process
    finally:
        await process.stop()


async def scrape(url: str) -> dict[str, float]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        assert response.status == 200
        text = await response.text()
    samples = {}
    for line in text.splitlines():
        match = re.match(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


async def test_a_service_process_reports_what_it_consumed_its_outbox_and_its_transfers(
    settlement: ServiceProcess, merchant: MerchantClient
) -> None:
    history = random_history(synthetic_merchant(), datetime.now(UTC), 5, seed=3)
    issuance_events = sum(1 for e in history.events if e.topic == ISSUANCE_EVENTS)
    await publish(merchant.producer, history.events)
    url = f"http://127.0.0.1:{settlement.env['METRICS_PORT']}/metrics"
    name = f'ecticket_messages_consumed_total{{service="escrow_settlement",topic="{ISSUANCE_EVENTS}"}}'
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        samples = await scrape(url)
        if (
            samples.get(name, 0) >= issuance_events
            and 'ecticket_outbox_backlog{service="escrow_settlement"}' in samples
        ):
            break
        assert asyncio.get_running_loop().time() < deadline, f"never consumed {issuance_events}: {samples.get(name)}"
        await asyncio.sleep(0.5)
    assert samples['ecticket_consumer_batch_size_count{service="escrow_settlement"}'] >= 1
    assert 'ecticket_outbox_oldest_age_seconds{service="escrow_settlement"}' in samples
    assert "ecticket_settlement_quarantined_subjects" in samples
    assert 'ecticket_dead_letters_open{service="escrow_settlement",touches_money="true"}' in samples


async def test_the_ops_app_serves_its_metrics_beside_its_dashboard(ops: OpsProcess, merchant: MerchantClient) -> None:
    await publish(merchant.producer, random_history(synthetic_merchant(), datetime.now(UTC), 1, seed=4).events)
    deadline = asyncio.get_running_loop().time() + 20
    while not any(
        name.startswith('ecticket_messages_consumed_total{service="ops"') for name in await scrape(ops.url + "/metrics")
    ):
        assert asyncio.get_running_loop().time() < deadline, "the ops app reports nothing consumed"
        await asyncio.sleep(0.2)
