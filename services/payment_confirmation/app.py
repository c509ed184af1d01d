"""The payment-confirmation service: AIO payment results in; PaymentConfirmed or PaymentRejected out."""

from __future__ import annotations

from pathlib import Path

from services.payment_confirmation.handlers import PaymentHandlers
from services.payment_confirmation.inbound import parse_payment_result
from shared.infra.messages import Route
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.topics import INGEST_PAYMENTS


async def wire(runtime: Runtime) -> Wiring:
    handlers = PaymentHandlers(runtime)
    return Wiring(routes={INGEST_PAYMENTS: Route(parse=parse_payment_result, handle=handlers.on_payment_results)})


SPEC = ServiceSpec(
    name="payment-confirmation",
    schema="payment_confirmation",
    migrations=Path(__file__).parent / "migrations",
    wire=wire,
)
