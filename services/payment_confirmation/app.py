"""The payment-confirmation service: one route, from the payments ingestion topic."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import asyncpg

from services.payment_confirmation.handlers import on_payment_results
from services.payment_confirmation.intake import PaymentResult, parse_payment_result
from shared.contracts.events import Outgoing
from shared.infra.messages import Inbound, Parsed, Route
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.topics import INGEST_PAYMENTS


async def wire(runtime: Runtime) -> Wiring:
    async def handle(
        conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[PaymentResult]]]
    ) -> list[Outgoing]:
        return await on_payment_results(runtime, conn, items)

    return Wiring(routes={INGEST_PAYMENTS: Route(parse=parse_payment_result, handle=handle)})


SPEC = ServiceSpec(
    name="payment-confirmation",
    schema="payment_confirmation",
    migrations=Path(__file__).parent / "migrations",
    wire=wire,
)
