"""The redemption service: WriteOff/Refund requests and TicketsIssued in; ticket usage-state events out."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from services.redemption.desk import RedemptionDesk
from services.redemption.handlers import RedemptionHandlers
from services.redemption.outbound import PRODUCER
from services.redemption.scheduler import ExpiryScheduler
from shared.ecticket.replies import internal_error_reply
from shared.infra.intake import parse_ingest_request
from shared.infra.messages import Route, one_by_one, parse_event
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every
from shared.topics import INGEST_REQUESTS, ISSUANCE_EVENTS

EXPIRY_SWEEP_SECONDS = 1.0
WAITING_SWEEP_SECONDS = 0.5


def ticket_wait() -> timedelta:
    """How long a request for a ticket not seen yet waits for its TicketsIssued (REDEMPTION_TICKET_WAIT_SECONDS)."""
    return timedelta(seconds=float(os.environ.get("REDEMPTION_TICKET_WAIT_SECONDS", "10")))


def expiry_batch() -> int:
    """Tickets expired per transaction (REDEMPTION_EXPIRY_BATCH): bounds memory and lock time."""
    return int(os.environ.get("REDEMPTION_EXPIRY_BATCH", "2000"))


def expiry_workers() -> int:
    """Expiry batches in flight at once (REDEMPTION_EXPIRY_WORKERS): while one computes, the others wait on
    Postgres; SKIP LOCKED keeps them disjoint."""
    return int(os.environ.get("REDEMPTION_EXPIRY_WORKERS", "2"))


async def wire(runtime: Runtime) -> Wiring:
    handlers = RedemptionHandlers(RedemptionDesk(runtime, ticket_wait()))
    scheduler = ExpiryScheduler(runtime, expiry_batch(), expiry_workers())
    routes: dict[str, Route[Any]] = {
        INGEST_REQUESTS: Route(
            parse=parse_ingest_request,
            handle=handlers.on_requests,
            on_poison=lambda parsed, _error, now: internal_error_reply(parsed.message_id, parsed.body, PRODUCER, now),
            keeps_unparseable=False,  # issuance keeps and announces what no one can read on this topic
        ),
        ISSUANCE_EVENTS: Route(parse=parse_event, handle=one_by_one(handlers.on_issuance_event)),
    }
    timers = [
        every(EXPIRY_SWEEP_SECONDS, scheduler.step, runtime.stopping, "expiry sweep"),
        every(WAITING_SWEEP_SECONDS, handlers.sweep_waiting, runtime.stopping, "waiting-request sweep"),
    ]
    return Wiring(routes=routes, timers=timers)


SPEC = ServiceSpec(name="redemption", schema="redemption", migrations=Path(__file__).parent / "migrations", wire=wire)
