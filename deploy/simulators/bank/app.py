"""The simulated bank as a process of its own, on the same runtime as the services (hardened consumer, relay child
process, dead-letter re-drive): its own schema and consumer group, the instructions topic in and out, and a timer
that publishes delayed answers when they fall due."""

from __future__ import annotations

from pathlib import Path

from deploy.simulators.bank.gateway import SCHEMA, BankGateway
from deploy.simulators.bank.simulated import SimulatedEscrowBank
from shared.infra.messages import Route, one_by_one, parse_event
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every
from shared.topics import SETTLEMENT_INSTRUCTIONS

NAME = SCHEMA
DUE_POLL_SECONDS = 0.2


async def wire(runtime: Runtime) -> Wiring:
    gateway = BankGateway(SimulatedEscrowBank(runtime.pool), runtime.clock, runtime.pool)
    return Wiring(
        routes={SETTLEMENT_INSTRUCTIONS: Route(parse=parse_event, handle=one_by_one(gateway.on_instruction))},
        timers=[every(DUE_POLL_SECONDS, gateway.release_due, runtime.stopping, "bank answers")],
    )


SPEC = ServiceSpec(name=NAME, schema=SCHEMA, migrations=Path(__file__).parent / "migrations", wire=wire)
