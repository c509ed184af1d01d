"""The escrow settlement service: payments, issuance, ticket events and bank answers in; the ledger, its
exceptions and alerts, and instructions to the bank out (the bank is an outside system: the instructions topic and
its statement topic are all it shares with us; the sandbox one is deploy/simulators/bank). The bank's statement is
reconciled against the ledger line by line (handlers/reconciliation.py)."""

from __future__ import annotations

from pathlib import Path

from services.escrow_settlement.config import SettlementConfig
from services.escrow_settlement.handlers.ledger import Ledger
from services.escrow_settlement.handlers.payout_run import PayoutRun
from services.escrow_settlement.handlers.reconciliation import Statements
from services.escrow_settlement.handlers.rejections import on_rejection
from services.escrow_settlement.timers import SettlementTimers
from shared.infra.messages import Route, one_by_one, parse_event
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every
from shared.topics import (
    BANK_STATEMENTS,
    ISSUANCE_EVENTS,
    PAYMENT_EVENTS,
    REDEMPTION_EVENTS,
    REJECTIONS,
    SETTLEMENT_INSTRUCTIONS,
)

NAME = SCHEMA = "escrow_settlement"


async def wire(runtime: Runtime) -> Wiring:
    config = SettlementConfig.from_env()
    ledger = Ledger(runtime.clock, config.cutoff)
    # One batch handler for every topic: a whole consumer batch is one slice load, one post, one save.
    route = Route(parse=parse_event, handle=ledger.on_events)
    topics = (PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_INSTRUCTIONS)
    timers = SettlementTimers(runtime, config, PayoutRun(runtime.pool, runtime.schema, ledger, config.policy))
    routes = dict.fromkeys(topics, route)
    routes[REJECTIONS] = Route(parse=parse_event, handle=one_by_one(on_rejection))
    # Last: a batch's handlers run in this order (`apply_items`), so every transaction takes account rows (the
    # ledger's) before reconciliation items (both handlers'), and two instances never wait on each other in a cycle.
    routes[BANK_STATEMENTS] = Route(parse=parse_event, handle=Statements(runtime.clock).on_statement)
    return Wiring(
        routes=routes,
        timers=[
            every(config.poll_seconds, timers.payout_step, runtime.stopping, "payout runs"),
            every(config.poll_seconds, timers.overdue_step, runtime.stopping, "overdue sweep"),
        ],
    )


SPEC = ServiceSpec(name=NAME, schema=SCHEMA, migrations=Path(__file__).parent / "migrations", wire=wire)
