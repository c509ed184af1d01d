"""The redemption service layer: lock the ticket, decide with the pure core, save, and say so (events + reply)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.redemption import pending, store
from services.redemption.domain import Refund, Request, Ticket, WriteOff, decide
from services.redemption.intake import Invalid
from services.redemption.outgoing import PRODUCER, Asker, reply_fields, wrapped
from services.redemption.pending import Waiting
from shared.contracts.events import Outgoing
from shared.contracts.redemption import RedemptionOperation, RedemptionRejected
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.replies import reply
from shared.infra.service import Runtime


@dataclass
class RedemptionDesk:
    runtime: Runtime
    ticket_wait: timedelta  # how long a request for a ticket not seen yet waits for its TicketsIssued

    async def handle(self, conn: asyncpg.Connection, asker: Asker, command: Request) -> Sequence[Outgoing]:
        """Decide now, or park the request until its ticket is issued (it is answered then, or at the deadline)."""
        ticket = await _lock(conn, command)
        if ticket is None:
            received = self.runtime.clock.now()
            await pending.park(conn, Waiting(asker, command, received + self.ticket_wait), received)
            return []
        return await self._decide(conn, asker, command, ticket)

    async def resume(self, conn: asyncpg.Connection, waiting: Waiting) -> Sequence[Outgoing]:
        """Decide a parked request: on its ticket, or TICKET_NOT_FOUND when the ticket never came."""
        ticket = await _lock(conn, waiting.command)
        return await self._decide(conn, waiting.asker, waiting.command, ticket)

    async def refuse_invalid(self, asker: Asker, invalid: Invalid, acting_platform_id: str | None) -> list[Outgoing]:
        now = self.runtime.clock.now(asker.merchant_id)
        rejection = RedemptionRejected(
            operation=_operation(asker.operation, invalid.cancel),
            rtn_code=RtnCode.DATA_INVALID,
            reason=invalid.detail,
            merchant_id=asker.merchant_id,
            acting_platform_id=acting_platform_id,
            ticket_no=invalid.ticket_no,
            write_off_no=invalid.write_off_no,
            ticket_trade_no=None,
            request_id=asker.request_id,
            at=now,
        )
        answer = await self.reply(asker, RtnCode.DATA_INVALID, invalid.detail, now, {})
        return [*wrapped([rejection], asker, now), answer]

    async def reply(
        self, asker: Asker, code: RtnCode, detail: str | None, now: datetime, extra: dict[str, Any]
    ) -> Outgoing:
        return reply(
            message_id=asker.message_id,
            request_id=asker.request_id,
            operation=asker.operation,
            merchant_id=asker.merchant_id,
            platform_id=asker.platform_id,
            signer=await self.runtime.merchants.lookup(asker.signer_id),
            code=code,
            detail=detail,
            now=now,
            producer=PRODUCER,
            extra=extra,
        )

    async def _decide(
        self, conn: asyncpg.Connection, asker: Asker, command: Request, ticket: Ticket | None
    ) -> Sequence[Outgoing]:
        now = self.runtime.clock.now(command.merchant_id)
        decision = decide(ticket, command, now)
        # Saved even when the request is refused: a due expiry may have been caught up on the way (decision.py).
        if decision.ticket is not None and decision.ticket != ticket:
            await store.save(conn, [decision.ticket], self.runtime.clock.now())
        refusal = decision.rejection
        detail = refusal.reason if refusal is not None else None
        answer = await self.reply(asker, decision.rtn_code, detail, now, reply_fields(command, decision))
        return [*wrapped(decision.events, asker, now), answer]


async def _lock(conn: asyncpg.Connection, command: Request) -> Ticket | None:
    if isinstance(command, WriteOff):
        return await store.lock_ticket(conn, ticket_no=None, write_off_no=command.write_off_no)
    assert isinstance(command, Refund)
    return await store.lock_ticket(conn, ticket_no=command.ticket_no, write_off_no=command.write_off_no)


def _operation(operation: str, cancel: bool) -> RedemptionOperation:
    if operation == "WriteOff":
        return RedemptionOperation.CANCEL_WRITE_OFF if cancel else RedemptionOperation.WRITE_OFF
    return RedemptionOperation.CANCEL_REFUND if cancel else RedemptionOperation.REFUND
