"""Hosting the simulated escrow bank inside the settlement process (sandbox): its own schema, consumer group,
outbox relay and due-answer timer, so it behaves like a separate party that happens to share the process."""

from __future__ import annotations

from pathlib import Path

from services.escrow_settlement.bank.gateway import SCHEMA, BankGateway
from services.escrow_settlement.bank.simulated import SimulatedEscrowBank
from shared.infra.consumer import ConsumerRunner
from shared.infra.database import create_pool, migrate
from shared.infra.messages import Route, one_by_one, parse_event
from shared.infra.relay import OutboxRelay
from shared.infra.service import Runtime, Wiring
from shared.infra.timers import every
from shared.topics import SETTLEMENT_INSTRUCTIONS

DUE_POLL_SECONDS = 0.2


async def simulated_bank(runtime: Runtime) -> Wiring:
    settings = runtime.settings
    await migrate(settings.database_url, SCHEMA, Path(__file__).parent / "migrations")
    pool = await create_pool(settings.database_url, SCHEMA)
    gateway = BankGateway(SimulatedEscrowBank(pool), runtime.clock, pool)
    runner = ConsumerRunner(
        name="escrow_bank", schema=SCHEMA, pool=pool, bootstrap=settings.kafka_bootstrap,
        routes={SETTLEMENT_INSTRUCTIONS: Route(parse=parse_event, handle=one_by_one(gateway.on_instruction))},
        clock=runtime.clock, stopping=runtime.stopping,
    )  # fmt: skip
    relay = OutboxRelay(SCHEMA, settings.database_url, settings.kafka_bootstrap, stopping=runtime.stopping)
    timers = [runner.run(), relay.run(), every(DUE_POLL_SECONDS, gateway.release_due, runtime.stopping, "bank answers")]
    return Wiring(routes={}, timers=timers, closers=[pool.close])
