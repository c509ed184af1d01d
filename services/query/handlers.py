"""The query side's consumer handlers: events into the read models; each query answered from them, once.

- `on_events`: TicketsIssued / IssueFailed / ticket state changes -> the read models; then the queries waiting for
  what the batch brought are answered.
- `on_requests`: authenticate, read the query, answer it; a query for an order or ticket the read model does not
  hold yet waits (`waiting_queries`) until it arrives or its deadline passes (docs/decisions.md, "Queries").
- `answer_waiting`: waiting queries answered again (the sweep's step, and after each event batch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from services.query.batch_answers import Ask, answer_all
from services.query.domain import items, order_detail
from services.query.domain.changes import change_of
from services.query.domain.queries import (
    EscrowDayQuery,
    ItemPageQuery,
    ItemQuery,
    OrderDetailQuery,
    OrderQuery,
    Query,
    TicketQuery,
)
from services.query.domain.views import TicketChange
from services.query.domain.watermark import reached
from services.query.event_offsets import EventOffsets
from services.query.inbound import Invalid, query_from
from services.query.outbound import PRODUCER, Answer, answered
from services.query.store import downloads, offsets, read_model, refund_transfers, waiting
from services.query.write_off_codes import opened_data, sealed_data
from shared.contracts.catalog import Product
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing, payload_of
from shared.contracts.ingest import IngestRequest
from shared.contracts.issuance import IssueAccepted, IssueFailed, TicketsIssued
from shared.contracts.operations import served_by
from shared.contracts.redemption import TicketEvent
from shared.contracts.rtncodes import RtnCode
from shared.contracts.settlement import RefundInstructed, TransferConfirmed, TransferKind, TransferOutcome
from shared.ecticket.authentication import Caller, Refusal
from shared.ecticket.replies import Addressee, Asker, refusal_reply
from shared.ecticket.write_off_codes import CodeKey
from shared.infra.compacted import CompactedView
from shared.infra.messages import Inbound, Parsed
from shared.infra.service import Runtime

NOT_FOUND = Answer(RtnCode.QUERY_NOT_FOUND, {})
PRINTING_NOT_ENABLED = Answer(RtnCode.PRINTING_NOT_ENABLED, {})
DOWNLOAD_EVERY = timedelta(minutes=1)


@dataclass
class QueryHandlers:
    runtime: Runtime
    products: CompactedView[Product]
    wait: timedelta  # how long a query for an order or ticket not seen yet waits for it
    event_offsets: EventOffsets  # the event topics' end offsets when queries arrive (read-your-writes)
    # The read model keeps a WriteOffNo only as its keyed hash (looked up by) and its ciphertext (opened for the
    # merchant's answer); a parked query keeps its code sealed (`write_off_codes`).
    code_key: CodeKey

    async def on_events(
        self, conn: asyncpg.Connection, items_: Sequence[tuple[Inbound, Parsed[EventEnvelope]]]
    ) -> list[Outgoing]:
        now = self.runtime.clock.now()
        subjects: set[str] = set()
        changes: list[tuple[TicketEvent, TicketChange]] = []
        reached_to: dict[tuple[str, int], int] = {}
        for record, parsed in items_:
            where = (record.topic, record.partition)
            reached_to[where] = max(reached_to.get(where, 0), record.offset + 1)
            event = payload_of(parsed.body)
            if isinstance(event, IssueAccepted):
                await read_model.apply_accepted(conn, event, now)
                subjects.add(event.merchant_trade_no or event.free_trade_no or event.ticket_trade_no)
            elif isinstance(event, TicketsIssued):
                await read_model.apply_issued(conn, event, now)
                subjects.add(event.merchant_trade_no or event.free_trade_no or event.ticket_trade_no)
                subjects.update(t.ticket_no for t in event.tickets)
                subjects.update(t.write_off_hash for t in event.tickets)
            elif isinstance(event, IssueFailed):
                trade_no = await read_model.apply_failed(conn, event, now)
                if trade_no:
                    subjects.add(trade_no)
            elif isinstance(event, TicketEvent):
                changes.append((event, change_of(event)))
            elif isinstance(event, RefundInstructed):
                await refund_transfers.instructed(conn, event)
            elif isinstance(event, TransferOutcome) and event.transfer is TransferKind.REFUND:
                status = "confirmed" if isinstance(event, TransferConfirmed) else "rejected"
                await refund_transfers.answered(conn, event, status)
        await read_model.apply_ticket_changes(conn, changes, now)
        await offsets.record(conn, reached_to)
        return await self.answer_waiting(conn, await waiting.claim_for(conn, sorted(subjects)))

    async def on_requests(
        self, conn: asyncpg.Connection, items_: Sequence[tuple[Inbound, Parsed[IngestRequest]]]
    ) -> list[Outgoing]:
        """Each query of the batch answered once, in arrival order. The order and ticket queries are answered
        together at the end (`batch_answers`: set-wise reads), or parked while the read model is behind."""
        replies: list[Outgoing | None] = []  # None: an order or ticket query, answered below
        asked: list[tuple[int, Asker, Caller, OrderQuery | TicketQuery]] = []
        for record, parsed in items_:
            request = parsed.body
            if not served_by(PRODUCER.name, request.operation):
                continue  # another service answers it: one reply per request
            clock = self.runtime.clock
            # The envelope's Timestamp window is about real time, whatever a sandbox test clock says.
            caller = await self.runtime.merchants.authenticate(
                request.envelope, int(clock.now().timestamp()), topic=record.topic
            )
            if isinstance(caller, Refusal):
                to = Addressee.of(parsed.message_id, request, caller)
                replies.append(refusal_reply(to, caller, clock.now(), PRODUCER))
                continue
            asker = Asker.of(parsed.message_id, request, caller)
            now = clock.now(asker.merchant_id)
            query = query_from(request.operation, caller.data)
            if isinstance(query, Invalid):
                invalid = Answer(RtnCode.DATA_INVALID, {}, query.detail)
                replies.append(answered(asker, caller.signer, invalid, now))
            elif (
                isinstance(query, OrderQuery)
                and query.operation == "QueryPrintData"
                and not caller.merchant.record.prints_paper
            ):
                replies.append(answered(asker, caller.signer, PRINTING_NOT_ENABLED, now))
            elif isinstance(query, OrderQuery | TicketQuery):
                asked.append((len(replies), asker, caller, query))
                replies.append(None)
            elif isinstance(query, OrderDetailQuery):
                replies.append(await self._detail_or_park(conn, asker, caller, query))
            else:
                answer = await self._other_answer(conn, asker.merchant_id, query)
                replies.append(answered(asker, caller.signer, answer, now))
        if asked:
            for at, reply_ in await self._answer_or_park(conn, asked):
                replies[at] = reply_
        return [r for r in replies if r is not None]

    async def _answer_or_park(
        self, conn: asyncpg.Connection, asked: Sequence[tuple[int, Asker, Caller, OrderQuery | TicketQuery]]
    ) -> list[tuple[int, Outgoing]]:
        """The replies of the batch's order and ticket queries (by their place in the batch); those whose order or
        ticket is not there yet, or all of them while the read model is behind the event topics, are parked."""
        watermark, behind = await self._behind(conn)
        asks = [Ask(asker.merchant_id, query) for _, asker, _, query in asked]
        found = [None] * len(asks) if behind else await answer_all(conn, self.code_key, asks)
        clock = self.runtime.clock
        out: list[tuple[int, Outgoing]] = []
        for (at, asker, caller, query), answer in zip(asked, found, strict=True):
            if answer is not None:
                out.append((at, answered(asker, caller.signer, answer, clock.now(asker.merchant_id))))
                continue
            subject, data = subject_of(query, self.code_key), sealed_data(caller.data, self.code_key)
            parked = waiting.Waiting(asker, subject, data, clock.now() + self.wait, watermark if behind else {})
            await waiting.park(conn, parked)
        return out

    async def _detail_or_park(
        self, conn: asyncpg.Connection, asker: Asker, caller: Caller, query: OrderDetailQuery
    ) -> Outgoing | None:
        """The order detail file, read from the read model as order queries are: not before it has applied every
        event published when the query arrived, so an order issued a moment ago is in it. Parked meanwhile (None),
        and answered by `answer_waiting` once the read model gets there."""
        watermark, behind = await self._behind(conn)
        if not behind:
            answer = await self._other_answer(conn, asker.merchant_id, query)
            return answered(asker, caller.signer, answer, self.runtime.clock.now(asker.merchant_id))
        data = sealed_data(caller.data, self.code_key)
        await waiting.park(conn, waiting.Waiting(asker, "", data, self.runtime.clock.now() + self.wait, watermark))
        return None

    async def _behind(self, conn: asyncpg.Connection) -> tuple[dict[str, int], bool]:
        """The event topics' ends now, and whether the read model has not applied up to them yet."""
        # Once per batch, at once: the event topics' ends from the broker, what the read model applied from the
        # database. Only when that looks behind is the group's committed offsets asked for too (`_applied`): in the
        # steady state the read model's own record has reached the ends, and that broker request (its coordinator
        # lookup and offset fetch) was a good part of a small batch's cost.
        watermark, recorded = await asyncio.gather(self.event_offsets.ends(), offsets.applied(conn))
        return watermark, not reached(watermark, recorded) and not reached(watermark, await self._applied(conn))

    async def answer_waiting(self, conn: asyncpg.Connection, claimed: Sequence[waiting.Waiting]) -> list[Outgoing]:
        """Answer the claimed queries whose watermark is reached and subject has arrived, and the rest whose
        deadline has passed."""
        clock = self.runtime.clock
        applied = await self._applied(conn) if claimed else {}
        due: list[tuple[waiting.Waiting, bool, Query | Invalid]] = []
        for w in claimed:
            final = w.deadline <= clock.now()
            if final or reached(w.watermark, applied):
                due.append((w, final, query_from(w.asker.operation, opened_data(w.data, self.code_key))))
        asks = [Ask(w.asker.merchant_id, q) for w, _, q in due if isinstance(q, OrderQuery | TicketQuery)]
        found = iter(await answer_all(conn, self.code_key, asks) if asks else [])
        out: list[Outgoing] = []
        done: list[waiting.Waiting] = []
        for w, final, query in due:
            answer: Answer | None
            if isinstance(query, Invalid):  # it was valid when parked; only a change of rules gets here
                answer = Answer(RtnCode.DATA_INVALID, {}, query.detail)
            elif isinstance(query, OrderQuery | TicketQuery):
                answer = next(found)
                answer = NOT_FOUND if answer is None and final else answer
            else:
                answer = await self._other_answer(conn, w.asker.merchant_id, query)
            if answer is None:
                continue
            signer = await self.runtime.merchants.lookup(w.asker.signer_id)
            out.append(answered(w.asker, signer, answer, clock.now(w.asker.merchant_id)))
            done.append(w)
        await waiting.remove(conn, done)
        return out

    async def _applied(self, conn: asyncpg.Connection) -> dict[str, int]:
        """How far the read model has applied each event partition: what this service's transactions recorded
        (including the batch in hand), or what its consumer group committed, whichever is further. The group's
        offsets also pass the records the handlers never see (inbox duplicates, dead letters): without them a
        partition ending in a duplicate would hold every query until the sweep."""
        recorded, committed = await asyncio.gather(offsets.applied(conn), self.event_offsets.committed())
        return {key: max(recorded.get(key, 0), committed.get(key, 0)) for key in {*recorded, *committed}}

    async def _other_answer(self, conn: asyncpg.Connection, merchant_id: str, query: Query) -> Answer:
        if isinstance(query, EscrowDayQuery):
            merchant = self.runtime.merchants.get(merchant_id)
            assert merchant is not None, "an authenticated merchant is known"
            return Answer(RtnCode.SUCCESS, {"EscrowDay": merchant.record.escrow_days})
        if isinstance(query, ItemQuery):
            product = self.products.get(f"{merchant_id}/{query.item_no}")
            if product is None:
                return Answer(RtnCode.ITEM_UNKNOWN, {"ItemNo": query.item_no})
            return Answer(RtnCode.SUCCESS, items.item_fields(product))
        if isinstance(query, ItemPageQuery):
            return Answer(RtnCode.SUCCESS, items.item_page(merchant_id, self.products.values(), query))
        assert isinstance(query, OrderDetailQuery)
        if not await downloads.take_slot(conn, merchant_id, self.runtime.clock.now(), DOWNLOAD_EVERY):
            return Answer(RtnCode.DOWNLOAD_RATE_LIMITED, {})
        first, end = read_model.day_bounds(query.first_day, query.last_day)
        if query.report_type == 1:
            rows = order_detail.order_rows(await read_model.orders_issued(conn, merchant_id, first, end))
        else:
            rows = order_detail.ticket_rows(
                await read_model.tickets_issued(conn, self.code_key, merchant_id, first, end)
            )
        return Answer(RtnCode.SUCCESS, order_detail.report(query.report_type, rows))


def subject_of(query: Query, key: CodeKey) -> str:
    """What a waiting query waits for: its order number, ticket number or code's keyed hash (as the events name
    them)."""
    if isinstance(query, OrderQuery):
        return query.trade_no
    if isinstance(query, TicketQuery):
        return query.ticket_no or (key.digest(query.write_off_no) if query.write_off_no else "")
    raise ValueError("only order and ticket queries wait")
