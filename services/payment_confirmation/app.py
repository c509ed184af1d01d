"""The payment-confirmation service: one route, from the payments ingestion topic."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import asyncpg

from services.payment_confirmation.handlers import on_payment_results
from services.payment_confirmation.intake import parse_payment_result
from shared.contracts.events import Outgoing
from shared.infra.messages import Inbound, Parsed, Route
from shared.infra.service import Runtime, ServiceSpec, Wiring
from shared.topics import INGEST_PAYMENTS


async def wire(runtime: Runtime) -> Wiring:
    async def batch(conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed]]) -> Sequence[Outgoing]:
        return await on_payment_results(runtime, conn, items)

    async def one(conn: asyncpg.Connection, parsed: Parsed, record: Inbound) -> Sequence[Outgoing]:
        return await batch(conn, [(record, parsed)])

    return Wiring(routes={INGEST_PAYMENTS: Route(parse=parse_payment_result, handle=one, handle_batch=batch)})


SPEC = ServiceSpec(
    name="payment-confirmation",
    schema="payment_confirmation",
    migrations=Path(__file__).parent / "migrations",
    wire=wire,
)
