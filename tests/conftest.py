"""Fixtures: real Kafka and PostgreSQL (from the environment, else testcontainers), real service processes."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from pathlib import Path

import asyncpg
import hypothesis
import pytest
from aiokafka import AIOKafkaProducer

from shared.infra.database import create_pool, migrate
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import EXEMPT, LOAD_GENERATOR_CLIENT, Quota, apply_quotas
from shared.platform import PLATFORM_SERVICES
from shared.sandbox.merchant import MerchantClient
from shared.settings import Settings
from shared.setup import setup
from shared.topics import AUDIT_CHECKPOINTS, CATALOG
from tests.support.ports import free_port
from tests.support.postgres import drop_schema, transaction_counter
from tests.support.processes import Platform, ServiceProcess
from tests.support.tap import Tap

MARKER_BY_DIR = {"unit": pytest.mark.unit, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}
# The outside systems the services talk to, each simulated by a process of its own: name -> `python -m` module.
SIMULATORS = {"escrow_bank": "deploy.simulators.bank", "payment_processor": "deploy.simulators.processor"}
# Short enough for the timeout test to finish quickly, long enough for both arrival orders on a loaded machine.
TEST_PAYMENT_WAIT_SECONDS = "6"
# How long redemption waits for the TicketsIssued of a ticket it has not seen (production: 10 s). After the crash
# tests, each kill -9'd consumer is evicted from the group only when its session times out, and every eviction is
# a rebalance that pauses consumption for seconds (measured: a TicketsIssued consumed 5 s after the request that
# waited for it). 12 s outlasts that; static group membership would remove the pauses (see docs/decisions.md).
TEST_TICKET_WAIT_SECONDS = "12"
# Small expiry batches, so the expiry tests cross several transactions (production: 2,000).
TEST_EXPIRY_BATCH = "250"


# Generated histories are large by design (many orders, days and bank answers each). Hypothesis's health checks
# for big or slow generation then fail a run at random (seen in a local run) while testing nothing about our code.
hypothesis.settings.register_profile(
    "ecticket",
    suppress_health_check=[hypothesis.HealthCheck.data_too_large, hypothesis.HealthCheck.too_slow],
)
hypothesis.settings.load_profile("ecticket")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.fspath)).parent.name
        if folder in MARKER_BY_DIR:
            item.add_marker(MARKER_BY_DIR[folder])


@pytest.fixture(scope="session")
def infra() -> Iterator[Settings]:
    """The service URLs from the environment (make test sets them), else containers if Docker answers."""
    if os.environ.get("KAFKA_BOOTSTRAP") and os.environ.get("DATABASE_URL"):
        yield Settings.from_env()
        return
    # Imported here: runs with servers in the environment (make test) never load testcontainers.
    from tests.support.containers import start_servers

    with ExitStack() as containers:
        try:
            servers = start_servers(containers)
        except Exception as exc:  # no Docker engine, or no image: say how to get real servers instead
            pytest.fail(
                "integration tests need real Kafka and PostgreSQL: run `make test` (local servers) or "
                "`make test-docker` (containers, docs/docker.md), or start them with "
                f"`bash deploy/local/infra.sh up && source .run/dev/env` ({exc!r})"
            )
        os.environ.update(servers)
        yield Settings.from_env()


@pytest.fixture(scope="session")
async def topics(infra: Settings) -> Settings:
    await setup(infra, seed=True)
    # The tests' traffic comes from many merchants and the processor through one producer: exempt from the produce
    # quota unidentified producers get (tests/integration/test_produce_quotas.py tests that quota).
    await apply_quotas(infra.kafka_bootstrap, [Quota(LOAD_GENERATOR_CLIENT, EXEMPT)])
    return infra


@pytest.fixture(scope="session")
async def platform_began(topics: Settings) -> int:
    """The database's transaction counter before the session's platform started: every row the platform writes
    (or updates) in this session has an xmin past it (tests/integration/test_zy_no_secrets.py reads only those)."""
    return await transaction_counter(topics.database_url)


@pytest.fixture(scope="session")
async def platform(topics: Settings, platform_began: int) -> AsyncIterator[Platform]:
    workdir = Path(tempfile.mkdtemp(prefix="ecticket-test-"))
    # The processor simulator listens on a port free now, for this session alone (a CI clone or another instance's
    # tests may run beside it); the services, the bank simulator and the tests' own checkouts reach it there.
    port = free_port()
    processor = {"PROCESSOR_HTTP_PORT": str(port), "PROCESSOR_URL": f"http://127.0.0.1:{port}"}
    os.environ.update(processor)
    # The HTTP gateway too (tests/support/http_client.py reads GATEWAY_URL).
    gateway_port = free_port()
    gateway = {"GATEWAY_PORT": str(gateway_port), "GATEWAY_URL": f"http://127.0.0.1:{gateway_port}"}
    os.environ.update(gateway)
    env = {
        **processor,
        **gateway,
        "KAFKA_BOOTSTRAP": topics.kafka_bootstrap,
        "DATABASE_URL": topics.database_url,
        "ISSUANCE_PAYMENT_WAIT_SECONDS": TEST_PAYMENT_WAIT_SECONDS,
        "ISSUANCE_UNCLAIMED_PAYMENT_SECONDS": "10",  # a payment no Issue request claims is refunded after 10 s
        "PAYMENT_VERIFY_GIVE_UP_SECONDS": "15",  # a result whose trade the processor never captures: rejected after 15 s
        "REDEMPTION_TICKET_WAIT_SECONDS": TEST_TICKET_WAIT_SECONDS,
        "REDEMPTION_EXPIRY_BATCH": TEST_EXPIRY_BATCH,
        # Payout runs only when a test asks for one (for its own merchants), and they start within 0.2 s.
        "SETTLEMENT_AUTOMATIC_PAYOUTS": "0",
        "SETTLEMENT_POLL_SECONDS": "0.2",
        "SETTLEMENT_OVERDUE_SECONDS": "3",  # an order waiting for a fact is raised to operations after 3 s
    }
    processes = {name: ServiceProcess(name, workdir, env) for name in PLATFORM_SERVICES}
    processes |= {name: ServiceProcess(name, workdir, env, main=module) for name, module in SIMULATORS.items()}
    running = Platform(processes)
    try:
        await running.start_all()
        yield running
    finally:
        # Also when start-up failed: a service left running would keep retrying against the next run's broker
        # and database (same ports) and join its consumer groups (seen: a later run's services never got ready).
        await running.stop_all()
        if not os.environ.get("ECTICKET_KEEP_TEST_LOGS"):
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
async def tap(topics: Settings) -> AsyncIterator[Tap]:
    watched = [
        t.name
        for t in CATALOG
        if (not t.compacted and not t.name.startswith("ecticket.ingest.") and t.name != AUDIT_CHECKPOINTS)
        or t.name == "ecticket.ingest.replies.v1"
    ]
    started = Tap(topics.kafka_bootstrap, watched)
    await started.start()
    yield started
    await started.stop()


@pytest.fixture(scope="session")
async def merchant(topics: Settings) -> AsyncIterator[MerchantClient]:
    producer = AIOKafkaProducer(
        bootstrap_servers=topics.kafka_bootstrap,
        client_id=LOAD_GENERATOR_CLIENT,
        acks="all",
        max_request_size=2 * 1024 * 1024,
        **kafka_security(),
    )
    await producer.start()
    yield MerchantClient(producer)
    await producer.stop()


@pytest.fixture(scope="session")
async def db(topics: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(topics.database_url, min_size=1, max_size=4)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture
async def messaging_schema(infra: Settings) -> AsyncIterator[tuple[asyncpg.Pool, str]]:
    """A new schema holding only the messaging tables (inbox, outbox, dead letters), and a pool bound to it."""
    schema = "messaging_" + uuid.uuid4().hex[:8]
    await migrate(infra.database_url, schema, Path(tempfile.mkdtemp()))
    pool = await create_pool(infra.database_url, schema, min_size=1, max_size=2)
    try:
        yield pool, schema
    finally:
        await pool.close()
        await drop_schema(infra.database_url, schema)
