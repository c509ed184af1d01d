"""Entry points of redemption: WriteOff/Refund requests, TicketsIssued, and the sweep of waiting requests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.redemption import pending, store
from services.redemption.desk import Asked, RedemptionDesk
from services.redemption.domain import tickets_from_issued
from services.redemption.inbound import Caller, Invalid, command_from
from services.redemption.outbound import PRODUCER, Asker
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing, payload_of
from shared.contracts.ingest import IngestRequest
from shared.contracts.issuance import TicketsIssued
from shared.contracts.operations import owner_of
from shared.ecticket.authentication import Refusal
from shared.ecticket.replies import Addressee, refusal_reply
from shared.infra import outbox
from shared.infra.messages import Inbound, Parsed


@dataclass
class RedemptionHandlers:
    desk: RedemptionDesk

    async def on_requests(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[IngestRequest]]]
    ) -> list[Outgoing]:
        """A consumer batch of requests: refusals answered at once, the rest decided together, in arrival order."""
        out: list[Outgoing] = []
        asked: list[Asked] = []
        for _record, parsed in items:
            admitted = await self._admit(parsed)
            if isinstance(admitted, tuple):
                asked.append(admitted)
            else:
                out.extend(admitted)
        return out + await self.desk.handle(conn, asked)

    async def _admit(self, parsed: Parsed[IngestRequest]) -> Asked | list[Outgoing]:
        """Authenticate the request and read its command (no I/O); or the answers that refuse it."""
        request = parsed.body
        if owner_of(request.operation) != PRODUCER.name:
            return []  # another service answers it: one reply per request
        runtime = self.desk.runtime
        # The envelope's Timestamp window is about real time, whatever a sandbox test clock says.
        caller = await runtime.merchants.authenticate(request.envelope, int(runtime.clock.now().timestamp()))
        if isinstance(caller, Refusal):
            to = Addressee.of(parsed.message_id, request, caller)
            return [refusal_reply(to, caller, runtime.clock.now(), PRODUCER)]
        merchant_id = caller.merchant.merchant_id
        acting = caller.platform_id if caller.platform_id not in (None, merchant_id) else None
        asker = Asker(
            message_id=parsed.message_id,
            request_id=request.request_id,
            operation=request.operation,
            merchant_id=merchant_id,
            platform_id=caller.platform_id,
            signer_id=caller.signer.merchant_id,
        )
        command = command_from(request.operation, caller.data, Caller(request.request_id, merchant_id, acting))
        if isinstance(command, Invalid):
            return await self.desk.refuse_invalid(asker, command, acting)
        return asker, command

    async def on_issuance_event(
        self, conn: asyncpg.Connection, parsed: Parsed[EventEnvelope], _record: Inbound
    ) -> Sequence[Outgoing]:
        envelope = parsed.body
        event = payload_of(envelope)
        if not isinstance(event, TicketsIssued):
            return []
        tickets = tickets_from_issued(event)
        await store.insert_issued(conn, tickets, envelope.event_id, self.desk.runtime.clock.now())
        return await self.desk.resume(conn, await pending.claim_for(conn, tickets))

    async def sweep_waiting(self) -> bool:
        """Answer waiting requests whose deadline passed or whose ticket is known by now; True if more remain."""
        runtime = self.desk.runtime
        async with runtime.pool.acquire() as conn, conn.transaction():
            claimed = await pending.claim_ready(conn, runtime.clock.now())
            await outbox.append(conn, runtime.schema, await self.desk.resume(conn, claimed))
        return len(claimed) >= pending.CLAIM_LIMIT
