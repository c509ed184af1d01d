"""The redemption service layer: lock the tickets, decide with the pure core, save, and say so (events + reply)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.redemption import pending, store
from services.redemption.domain import Refund, Request, Ticket, decide
from services.redemption.inbound import Invalid
from services.redemption.outbound import PRODUCER, Asker, reply_fields, wrapped
from services.redemption.pending import Waiting
from shared.contracts.events import Outgoing
from shared.contracts.redemption import RedemptionOperation, RedemptionRejected
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.replies import Addressee, reply
from shared.infra.service import Runtime

Asked = tuple[Asker, Request]  # a request and who asked it


@dataclass
class RedemptionDesk:
    runtime: Runtime
    ticket_wait: timedelta  # how long a request for a ticket not seen yet waits for its TicketsIssued

    async def handle(self, conn: asyncpg.Connection, asked: Sequence[Asked]) -> list[Outgoing]:
        """Decide a batch of requests now, in order; a request whose ticket is not known yet is parked until its
        TicketsIssued arrives (it is answered then, or at its deadline)."""
        return await self._decide_all(conn, asked, park=True)

    async def resume(self, conn: asyncpg.Connection, waiting: Sequence[Waiting]) -> list[Outgoing]:
        """Decide parked requests, in arrival order: on their ticket, or TICKET_NOT_FOUND when it never came."""
        return await self._decide_all(conn, [(w.asker, w.command) for w in waiting], park=False)

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
        signer = await self.runtime.merchants.lookup(asker.signer_id)
        to = Addressee(
            asker.message_id, asker.request_id, asker.operation, asker.merchant_id, asker.platform_id, signer
        )
        return reply(to, code, detail, now, PRODUCER, extra=extra)

    async def _decide_all(self, conn: asyncpg.Connection, asked: Sequence[Asked], park: bool) -> list[Outgoing]:
        """Lock every ticket the requests name in one query, decide them one after the other on the tickets as the
        earlier ones left them, and save each changed ticket once: two round trips for the whole batch."""
        if not asked:
            return []
        locked = _Locked(await store.lock_tickets(conn, [command for _, command in asked]))
        changed: dict[str, Ticket] = {}
        out: list[Outgoing] = []
        for asker, command in asked:
            ticket = locked.find(command)
            if ticket is None and park:
                received = self.runtime.clock.now()
                await pending.park(conn, Waiting(asker, command, received + self.ticket_wait), received)
                continue
            now = self.runtime.clock.now(command.merchant_id)
            decision = decide(ticket, command, now)
            # Saved even when the request is refused: a due expiry may have been caught up on the way (decision.py).
            if decision.ticket is not None and decision.ticket != ticket:
                changed[decision.ticket.ticket_no] = locked.update(decision.ticket)
            refusal = decision.rejection
            detail = refusal.reason if refusal is not None else None
            answer = await self.reply(asker, decision.rtn_code, detail, now, reply_fields(command, decision))
            out += [*wrapped(decision.events, asker, now), answer]
        await store.save(conn, list(changed.values()), self.runtime.clock.now())
        return out


class _Locked:
    """The tickets a batch locked, by both of their numbers, as the batch's decisions leave them."""

    def __init__(self, tickets: Sequence[Ticket]) -> None:
        self._by_ticket_no = {t.ticket_no: t for t in tickets}
        self._by_write_off_no = {t.write_off_no: t for t in tickets}

    def find(self, command: Request) -> Ticket | None:
        """The ticket named by the request's TicketNo (preferred) or WriteOffNo, as `store.lock_tickets` selects it."""
        if isinstance(command, Refund) and command.ticket_no:
            return self._by_ticket_no.get(command.ticket_no)
        return self._by_write_off_no.get(command.write_off_no or "")

    def update(self, ticket: Ticket) -> Ticket:
        self._by_ticket_no[ticket.ticket_no] = self._by_write_off_no[ticket.write_off_no] = ticket
        return ticket


def _operation(operation: str, cancel: bool) -> RedemptionOperation:
    if operation == "WriteOff":
        return RedemptionOperation.CANCEL_WRITE_OFF if cancel else RedemptionOperation.WRITE_OFF
    return RedemptionOperation.CANCEL_REFUND if cancel else RedemptionOperation.REFUND
