"""The waiting-query sweep: answers the queries whose deadline passed, whose watermark the consumer group has
committed past (records the handlers never see: inbox duplicates, dead letters), or whose subject arrived while
they were being parked (neither transaction saw the other)."""

from __future__ import annotations

from dataclasses import dataclass

from services.query.handlers import QueryHandlers
from services.query.replies_now import RepliesNow
from services.query.store import waiting
from shared.infra import outbox
from shared.infra.service import Runtime


@dataclass
class WaitingSweep:
    runtime: Runtime
    handlers: QueryHandlers
    replies: RepliesNow  # the answers go to Kafka before the claim commits, as the consumer's do

    async def step(self) -> bool:
        runtime = self.runtime
        async with runtime.pool.acquire() as conn, conn.transaction():
            claimed = await waiting.claim_due(conn, runtime.clock.now())
            answers = await self.handlers.answer_waiting(conn, claimed)
            await outbox.append(conn, runtime.schema, await self.replies.send(answers))
        return len(claimed) >= waiting.CLAIM_LIMIT
