"""The payment-confirmation service: AIO payment results in; PaymentConfirmed, PaymentRejected and
PaymentAlertRaised out, once the payment processor has answered for each result."""

from __future__ import annotations

import asyncio
from pathlib import Path

from services.payment_confirmation.config import PaymentConfig
from services.payment_confirmation.handlers import PaymentHandlers
from services.payment_confirmation.inbound import parse_payment_result
from services.payment_confirmation.processor import HttpTradeQuery
from services.payment_confirmation.timers import PaymentVerifier
from shared.infra.messages import Route
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.topics import INGEST_PAYMENTS


async def wire(runtime: Runtime) -> Wiring:
    config = PaymentConfig.from_env()
    processor = HttpTradeQuery(config.processor_url, config.platform_id, config.credentials, config.timeout_seconds)
    wake = asyncio.Event()
    handlers = PaymentHandlers(runtime, wake)
    verifier = PaymentVerifier(runtime, processor, config, wake)
    return Wiring(
        routes={INGEST_PAYMENTS: Route(parse=parse_payment_result, handle=handlers.on_payment_results)},
        timers=[verifier.run()],
        closers=[processor.close],
    )


SPEC = ServiceSpec(
    name="payment-confirmation",
    schema="payment_confirmation",
    migrations=Path(__file__).parent / "migrations",
    wire=wire,
)
