"""The waiting-query sweep: answers the queries whose deadline passed, whose watermark the consumer group has
committed past (records the handlers never see: inbox duplicates, dead letters), or whose subject arrived while
they were being parked (neither transaction saw the other)."""

from __future__ import annotations

from dataclasses import dataclass

from services.query.handlers import QueryHandlers
from services.query.store import waiting
from shared.infra import outbox
from shared.infra.service import Runtime


@dataclass
class WaitingSweep:
    runtime: Runtime
    handlers: QueryHandlers

    async def step(self) -> bool:
        runtime = self.runtime
        async with runtime.pool.acquire() as conn, conn.transaction():
            claimed = await waiting.claim_due(conn, runtime.clock.now())
            await outbox.append(conn, runtime.schema, await self.handlers.answer_waiting(conn, claimed))
        return len(claimed) >= waiting.CLAIM_LIMIT
