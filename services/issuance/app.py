"""The issuance service: Issue requests, payment outcomes and product catalogue in; tickets out."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from services.issuance.domain.codes import SystemRandomSource
from services.issuance.handlers import Input, IssuanceHandlers
from services.issuance.orders import PRODUCER, OrderDesk
from shared.contracts.catalog import Product
from shared.contracts.events import Outgoing
from shared.contracts.ingest import IngestRequest
from shared.ecticket.replies import internal_error_reply
from shared.infra.compacted import CompactedView
from shared.infra.intake import parse_ingest_request
from shared.infra.messages import Parsed, Route, parse_event
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every
from shared.topics import INGEST_REQUESTS, PAYMENT_EVENTS, PRODUCT_CATALOG


def payment_wait() -> timedelta:
    """How long a paid order waits for its payment before failing (ISSUANCE_PAYMENT_WAIT_SECONDS)."""
    return timedelta(seconds=float(os.environ.get("ISSUANCE_PAYMENT_WAIT_SECONDS", "900")))


async def wire(runtime: Runtime) -> Wiring:
    products: CompactedView[Product] = CompactedView(
        runtime.settings.kafka_bootstrap, PRODUCT_CATALOG, Product.model_validate_json
    )
    await products.start()
    handlers = IssuanceHandlers(OrderDesk(runtime, SystemRandomSource(), payment_wait()), products)
    routes: dict[str, Route[Input]] = {
        PAYMENT_EVENTS: Route(parse=parse_event, handle=handlers.on_batch),
        INGEST_REQUESTS: Route(
            parse=parse_ingest_request,
            handle=handlers.on_batch,
            on_poison=lambda parsed, _error, now: _internal_error(parsed, now),
        ),
    }
    return Wiring(
        routes=routes,
        timers=[every(1.0, handlers.sweep_overdue, runtime.stopping, "payment deadline sweep")],
        closers=[products.stop],
    )


def _internal_error(parsed: Parsed[Input], now: datetime) -> list[Outgoing]:
    request = parsed.body
    return internal_error_reply(parsed.message_id, request, PRODUCER, now) if isinstance(request, IngestRequest) else []


SPEC = ServiceSpec(name="issuance", schema="issuance", migrations=Path(__file__).parent / "migrations", wire=wire)
