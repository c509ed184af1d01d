"""The notification service wired: issuance, redemption and the bank's answers in; notifications out to the
merchants' notify URLs by the delivery loop (docs/notifications.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.notification.attempts import Attempter
from services.notification.config import NotifyConfig
from services.notification.endpoints import HttpEndpoints
from services.notification.handlers import NotificationHandlers
from services.notification.recorder import Recorder
from services.notification.timers import DeliveryLoop
from shared.infra.messages import Route, parse_event
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every
from shared.topics import ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_INSTRUCTIONS

NAME = SCHEMA = "notification"


async def wire(runtime: Runtime) -> Wiring:
    config = NotifyConfig.from_env()
    handlers = NotificationHandlers(runtime, config)
    endpoints = HttpEndpoints(config.timeout, config.concurrency)
    attempter = Attempter(runtime.clock, runtime.merchants, endpoints, config)
    loop = DeliveryLoop(runtime, config, attempter, Recorder(runtime.pool))
    routes: dict[str, Route[Any]] = {
        ISSUANCE_EVENTS: Route(parse=parse_event, handle=handlers.on_events),  # each order's notify URLs
        REDEMPTION_EVENTS: Route(parse=parse_event, handle=handlers.on_events),  # ticket status changes
        SETTLEMENT_INSTRUCTIONS: Route(parse=parse_event, handle=handlers.on_events),  # refunds the bank confirmed
    }
    timers = [every(config.poll, loop.step, runtime.stopping, "notification delivery")]
    # The loop's attempts end (or are cut) before the HTTP sessions close.
    return Wiring(routes=routes, timers=timers, closers=[loop.close, endpoints.close])


SPEC = ServiceSpec(name=NAME, schema=SCHEMA, migrations=Path(__file__).parent / "migrations", wire=wire)
