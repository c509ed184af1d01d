"""The redemption service wired: WriteOff/Refund requests and TicketsIssued in, ticket usage-state events and
replies out; the expiry scheduler and the waiting-request sweep beside the consumer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from services.redemption.config import RedemptionConfig
from services.redemption.handlers import RedemptionHandlers
from services.redemption.outbound import PRODUCER
from services.redemption.timers import ExpiryScheduler, WaitingSweep
from shared.contracts.operations import answered_by
from shared.ecticket.replies import internal_error_reply
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.intake import parse_ingest_request
from shared.infra.messages import Route, parse_event
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every
from shared.topics import INGEST_REQUESTS, ISSUANCE_EVENTS


async def wire(runtime: Runtime) -> Wiring:
    config = RedemptionConfig.from_env()
    code_key = CodeKey.from_hex(runtime.settings.code_key_hex)
    handlers = RedemptionHandlers(runtime, config.ticket_wait, code_key, config.cutoff)
    expiry = ExpiryScheduler(runtime, config.expiry_batch, config.expiry_workers)
    waiting = WaitingSweep(runtime, handlers)
    routes: dict[str, Route[Any]] = {
        # Declared first, so handled first (`apply_items`): a write-off fetched in the same batch as its tickets
        # finds them issued, instead of being parked and resumed by them in the same transaction.
        ISSUANCE_EVENTS: Route(parse=parse_event, handle=handlers.on_issuance_events),
        INGEST_REQUESTS: Route(
            parse=parse_ingest_request,
            handle=handlers.on_requests,
            on_poison=lambda record, parsed, _error, now: internal_error_reply(
                parsed.message_id, parsed.body, PRODUCER, now, topic=record.topic
            ),
            keeps_unparseable=False,  # issuance keeps and announces what no one can read on this topic
            wanted=answered_by(PRODUCER.name),
        ),
    }
    timers = [
        every(config.expiry_sweep_seconds, expiry.step, runtime.stopping, "expiry sweep"),
        every(config.waiting_sweep_seconds, waiting.step, runtime.stopping, "waiting-request sweep"),
    ]
    return Wiring(routes=routes, timers=timers)


SPEC = ServiceSpec(name="redemption", schema="redemption", migrations=Path(__file__).parent / "migrations", wire=wire)
