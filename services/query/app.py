"""The query side wired: domain events (and settlement's refund transfers) into the read models, query requests answered from them; the sweep that
answers the queries which waited for their order or ticket in vain."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from services.query.event_offsets import EventOffsets
from services.query.handlers import QueryHandlers
from services.query.outbound import PRODUCER
from services.query.replies_now import RepliesNow
from services.query.timers import WaitingSweep
from shared.contracts.catalog import Product
from shared.contracts.operations import answered_by
from shared.ecticket.replies import internal_error_reply
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.compacted import CompactedView
from shared.infra.intake import parse_ingest_request
from shared.infra.messages import Route, parse_event
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every
from shared.topics import (
    INGEST_REQUESTS,
    ISSUANCE_EVENTS,
    PRODUCT_CATALOG,
    REDEMPTION_EVENTS,
    SETTLEMENT_INSTRUCTIONS,
)


def query_wait() -> timedelta:
    """How long a query for an order or ticket the read model does not hold yet waits for it (QUERY_WAIT_SECONDS)."""
    return timedelta(seconds=float(os.environ.get("QUERY_WAIT_SECONDS", "2")))


async def wire(runtime: Runtime) -> Wiring:
    products: CompactedView[Product] = CompactedView(
        runtime.settings.kafka_bootstrap, PRODUCT_CATALOG, Product.model_validate_json
    )
    offsets = EventOffsets(runtime.settings.kafka_bootstrap, [ISSUANCE_EVENTS, REDEMPTION_EVENTS], runtime.name)
    replies = RepliesNow(runtime.settings.kafka_bootstrap)
    await asyncio.gather(products.start(), offsets.start(), replies.start())
    code_key = CodeKey.from_hex(runtime.settings.code_key_hex)
    handlers = QueryHandlers(runtime, products, query_wait(), offsets, code_key)
    sweep = WaitingSweep(runtime, handlers, replies)
    on_events = replies.sending(handlers.on_events)
    routes: dict[str, Route[Any]] = {
        # One handler for both event topics: a batch's events are applied together, then its waiting queries.
        # Replies go to Kafka from the consumer, not through the outbox (`replies_now`).
        ISSUANCE_EVENTS: Route(parse=parse_event, handle=on_events),
        REDEMPTION_EVENTS: Route(parse=parse_event, handle=on_events),
        SETTLEMENT_INSTRUCTIONS: Route(parse=parse_event, handle=on_events),  # refunds and the bank's answers
        INGEST_REQUESTS: Route(
            parse=parse_ingest_request,
            handle=replies.sending(handlers.on_requests),
            on_poison=lambda record, parsed, _error, now: internal_error_reply(
                parsed.message_id, parsed.body, PRODUCER, now, topic=record.topic
            ),
            keeps_unparseable=False,  # issuance keeps and announces what no one can read on this topic
            wanted=answered_by(PRODUCER.name),
            # A query repeated is answered again (same reply id): no inbox row. Safe because its replies are
            # acknowledged by Kafka before its transaction commits (`replies_now`).
            inbox=False,
        ),
    }
    timers = [every(0.25, sweep.step, runtime.stopping, "waiting-query sweep")]
    return Wiring(routes=routes, timers=timers, closers=[products.stop, offsets.stop, replies.stop])


SPEC = ServiceSpec(name="query", schema="query", migrations=Path(__file__).parent / "migrations", wire=wire)
