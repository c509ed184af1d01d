"""The issuance service: Issue requests, payment outcomes and the product catalogue in; tickets out."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from services.issuance.domain.codes import SystemRandomSource
from services.issuance.handlers import IssuanceHandlers, OrderDecider
from services.issuance.outbound import PRODUCER
from services.issuance.timers import SWEEP_SECONDS, DeadlineSweep
from shared.contracts.catalog import Product
from shared.contracts.operations import answered_by
from shared.ecticket.replies import internal_error_reply
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.compacted import CompactedView
from shared.infra.intake import parse_ingest_request
from shared.infra.messages import Route, parse_event
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.infra.timers import every
from shared.topics import INGEST_REQUESTS, PAYMENT_EVENTS, PRODUCT_CATALOG


def payment_wait() -> timedelta:
    """How long a paid order waits for its payment before failing (ISSUANCE_PAYMENT_WAIT_SECONDS)."""
    return timedelta(seconds=float(os.environ.get("ISSUANCE_PAYMENT_WAIT_SECONDS", "900")))


def claim_wait() -> timedelta:
    """How long a confirmed payment waits for an Issue request to claim it before its order is failed for good and
    the payment refunded in full (ISSUANCE_UNCLAIMED_PAYMENT_SECONDS)."""
    return timedelta(seconds=float(os.environ.get("ISSUANCE_UNCLAIMED_PAYMENT_SECONDS", "86400")))


async def wire(runtime: Runtime) -> Wiring:
    products: CompactedView[Product] = CompactedView(
        runtime.settings.kafka_bootstrap, PRODUCT_CATALOG, Product.model_validate_json
    )
    await products.start()
    orders = OrderDecider(runtime, SystemRandomSource(), CodeKey.from_hex(runtime.settings.code_key_hex))
    handlers = IssuanceHandlers(runtime, products, orders, payment_wait(), claim_wait())
    sweep = DeadlineSweep(runtime, orders)
    return Wiring(
        # One handler for both topics: a payment and its Issue request in one batch are decided together.
        routes={
            PAYMENT_EVENTS: Route(parse=parse_event, handle=handlers.on_batch),
            INGEST_REQUESTS: Route(
                parse=parse_ingest_request,
                handle=handlers.on_batch,
                on_poison=lambda record, parsed, _error, now: internal_error_reply(
                    parsed.message_id, parsed.body, PRODUCER, now, topic=record.topic
                ),
                wanted=answered_by(PRODUCER.name),
            ),
        },
        timers=[every(SWEEP_SECONDS, sweep.step, runtime.stopping, "payment deadline sweep")],
        closers=[products.stop],
    )


SPEC = ServiceSpec(name="issuance", schema="issuance", migrations=Path(__file__).parent / "migrations", wire=wire)
