"""The simulated bank as a process of its own, on the same runtime as the services (hardened consumer, relay child
process, dead-letter re-drive): its own schema and consumer group, the instructions topic in and out, a timer that
publishes delayed answers when they fall due, and one that reads the processor's reconciliation file and keeps the
statement (credits as they are booked, each day closed once it has ended).

BANK_RECON_POLL_SECONDS (default 1): how often it reads the reconciliation file. BANK_STATEMENT_GRACE_SECONDS
(default 30): how long after midnight (Asia/Taipei) it still waits for the ended day's last captures before it
closes that day's statement. PROCESSOR_URL: where the processor answers.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from deploy.simulators.bank.gateway import BankGateway
from deploy.simulators.bank.names import SCHEMA
from deploy.simulators.bank.processor_feed import ProcessorFeed
from deploy.simulators.bank.simulated import SimulatedEscrowBank
from shared.ecticket.processor_query import processor_url
from shared.infra.messages import Route, one_by_one, parse_event
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every
from shared.topics import SETTLEMENT_INSTRUCTIONS

NAME = SCHEMA
DUE_POLL_SECONDS = 0.2


def statement_grace() -> timedelta:
    return timedelta(seconds=float(os.environ.get("BANK_STATEMENT_GRACE_SECONDS", "30")))


async def wire(runtime: Runtime) -> Wiring:
    gateway = BankGateway(SimulatedEscrowBank(runtime.pool), runtime.clock, runtime.pool)
    feed = ProcessorFeed(runtime.pool, runtime.clock, processor_url(), statement_grace())
    poll = float(os.environ.get("BANK_RECON_POLL_SECONDS", "1"))
    return Wiring(
        routes={SETTLEMENT_INSTRUCTIONS: Route(parse=parse_event, handle=one_by_one(gateway.on_instruction))},
        timers=[
            every(DUE_POLL_SECONDS, gateway.release_due, runtime.stopping, "bank answers"),
            every(poll, feed.step, runtime.stopping, "bank statement"),
        ],
        closers=[feed.close],
    )


SPEC = ServiceSpec(name=NAME, schema=SCHEMA, migrations=Path(__file__).parent / "migrations", wire=wire)
