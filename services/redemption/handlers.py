"""Redemption's consumer handlers: lock the tickets, decide with the pure core, save, and say so (events + replies).

- `on_requests`: a consumer batch of WriteOff/Refund requests, decided together in the batch's transaction.
- `on_issuance_events`: a batch's TicketsIssued; the requests that were parked waiting for their tickets are decided
  at once.
- `decide_waiting`: parked requests, on their ticket or TICKET_NOT_FOUND (also the waiting-request sweep's step).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time, timedelta

import asyncpg

from services.redemption import store
from services.redemption.domain import Refund, Request, Ticket, decide, tickets_from_issued
from services.redemption.inbound import Invalid, RequestedBy, command_from
from services.redemption.outbound import PRODUCER, answer, invalid_data, wrapped
from shared.contracts.archive import REQUEST, archived
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing, payload_of
from shared.contracts.ingest import IngestRequest
from shared.contracts.issuance import TicketsIssued
from shared.contracts.operations import owner_of
from shared.ecticket.authentication import Refusal
from shared.ecticket.replies import Addressee, Asker, refusal_reply
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.messages import Inbound, Parsed
from shared.infra.service import Runtime
from shared.merchants.model import Merchant

Asked = tuple[Asker, Request]  # a request and who asked it


@dataclass
class RedemptionHandlers:
    runtime: Runtime
    ticket_wait: timedelta  # how long a request for a ticket not seen yet waits for its TicketsIssued
    code_key: CodeKey  # requests name a ticket by their WriteOffNo's keyed hash; a parked request's code is sealed
    cutoff: time = time(0)  # the platform's business-day cut-off (the cancel window ends at it)

    async def on_requests(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[IngestRequest]]]
    ) -> list[Outgoing]:
        """Refusals answered at once; the rest decided together, in arrival order. A request whose ticket is not
        known yet is parked until its TicketsIssued arrives (it is answered then, or at its deadline)."""
        out: list[Outgoing] = []
        asked: list[Asked] = []
        for record, parsed in items:
            admitted = await self._admit(parsed, record.topic)
            if isinstance(admitted, tuple) or _signed(admitted):
                # Its signature verified: kept byte for byte, chained, before the events of its decision (issue 13;
                # shared/contracts/archive.py), as issuance keeps an Issue request.
                merchant_id = str(parsed.body.envelope["MerchantID"])
                out.append(archived(REQUEST, record.topic, record.value, parsed.message_id, merchant_id))
            if isinstance(admitted, tuple):
                asked.append(admitted)
            else:
                out.extend(admitted)
        return out + await self._decide_all(conn, asked, park=True)

    async def on_issuance_events(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[EventEnvelope]]]
    ) -> list[Outgoing]:
        """A batch's TicketsIssued learned in one statement, then the requests parked for any of their tickets
        decided, in arrival order: two statements a batch, not two an order (docs/benchmarks.md, "Redemption
        learns a batch's tickets set-wise")."""
        issued = [
            (parsed.body.event_id, tickets_from_issued(event))
            for _, parsed in items
            if isinstance(event := payload_of(parsed.body), TicketsIssued)
        ]
        if not issued:
            return []
        await store.insert_issued(conn, issued, self.runtime.clock.now())
        tickets = [t for _, some in issued for t in some]
        return await self.decide_waiting(conn, await store.claim_for(conn, tickets, self.code_key))

    async def decide_waiting(self, conn: asyncpg.Connection, waiting: Sequence[store.Waiting]) -> list[Outgoing]:
        """Decide parked requests, in arrival order: on their ticket, or TICKET_NOT_FOUND when it never came."""
        return await self._decide_all(conn, [(w.asker, w.command) for w in waiting], park=False)

    async def _admit(self, parsed: Parsed[IngestRequest], topic: str) -> Asked | list[Outgoing]:
        """Authenticate the request and read its command; or the answers that refuse it."""
        request = parsed.body
        if owner_of(request.operation) != PRODUCER.name:
            return []  # another service answers it: one reply per request
        clock = self.runtime.clock
        # The envelope's Timestamp window is about real time, whatever a sandbox test clock says.
        caller = await self.runtime.merchants.authenticate(request.envelope, int(clock.now().timestamp()), topic=topic)
        if isinstance(caller, Refusal):
            to = Addressee.of(parsed.message_id, request, caller)
            return [refusal_reply(to, caller, clock.now(), PRODUCER)]
        asker = Asker.of(parsed.message_id, request, caller)
        acting = caller.platform_id if caller.platform_id not in (None, asker.merchant_id) else None
        command = command_from(
            request.operation, caller.data, RequestedBy(request.request_id, asker.merchant_id, acting), self.code_key
        )
        if isinstance(command, Invalid):
            now = clock.now(asker.merchant_id)
            return invalid_data(asker, await self._signer(asker), command, acting, now)
        return asker, command

    async def _decide_all(self, conn: asyncpg.Connection, asked: Sequence[Asked], park: bool) -> list[Outgoing]:
        """Lock every ticket the requests name in one query, decide them one after the other on the tickets as the
        earlier ones left them, and save each changed ticket once: two round trips for the whole batch."""
        if not asked:
            return []
        clock = self.runtime.clock
        locked = _Locked(await store.lock_tickets(conn, [command for _, command in asked]))
        changed: dict[str, Ticket] = {}
        out: list[Outgoing] = []
        for asker, command in asked:
            ticket = locked.find(command)
            if ticket is None and park:
                received = clock.now()
                waiting = store.Waiting(asker, command, received + self.ticket_wait)
                await store.park(conn, waiting, received, self.code_key)
                continue
            now = clock.now(command.merchant_id)
            decision = decide(ticket, command, now, self.cutoff)
            # Saved even when the request is refused: a due expiry may have been caught up on the way (decision.py).
            if decision.ticket is not None and decision.ticket != ticket:
                changed[decision.ticket.ticket_no] = locked.update(decision.ticket)
            signer = await self._signer(asker)
            out += [*wrapped(decision.events, asker, now), answer(asker, signer, command, decision, now)]
        await store.save(conn, list(changed.values()), clock.now())
        return out

    async def _signer(self, asker: Asker) -> Merchant | None:
        """Whose keys seal the reply, as the merchants view has them when the reply is built."""
        return await self.runtime.merchants.lookup(asker.signer_id)


class _Locked:
    """The tickets a batch locked, by their number and their code's hash, as the batch's decisions leave them."""

    def __init__(self, tickets: Sequence[Ticket]) -> None:
        self._by_ticket_no = {t.ticket_no: t for t in tickets}
        self._by_write_off_hash = {t.write_off_hash: t for t in tickets}

    def find(self, command: Request) -> Ticket | None:
        """The ticket named by the request's TicketNo (preferred) or WriteOffNo, as `store.lock_tickets` selects it."""
        if isinstance(command, Refund) and command.ticket_no:
            return self._by_ticket_no.get(command.ticket_no)
        return self._by_write_off_hash.get(command.write_off_hash or "")

    def update(self, ticket: Ticket) -> Ticket:
        self._by_ticket_no[ticket.ticket_no] = self._by_write_off_hash[ticket.write_off_hash] = ticket
        return ticket


def _signed(refused: list[Outgoing]) -> bool:
    """Whether `_admit`'s refusal came after the signature verified: Data it could not decide on (its
    RedemptionRejected 1001), not an unauthenticated request (a reply only) or another service's operation."""
    return any(o.event_type == "RedemptionRejected" for o in refused)
