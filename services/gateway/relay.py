"""Forwarding a request onto the ingestion topic and relaying its owner's one reply (or the recorded one)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.gateway.inbound import Forward
from services.gateway.produces import Produces
from services.gateway.replay_lookups import ReplayLookups
from services.gateway.replies import GaveUp, ReplyTail
from shared.infra.faults import is_transient
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS


@dataclass(frozen=True)
class Replied:
    response: str  # the response envelope's JSON
    replayed: bool  # answered from the table: the request had been answered before


@dataclass(frozen=True)
class NoReply:
    """No reply (yet): the request may still be decided; the identical request sent again gets its outcome."""

    status: int  # 503 could not forward / stopping, 504 no reply in time
    reason: str


@dataclass
class Relay:
    producer: AIOKafkaProducer
    tail: ReplyTail
    pool: asyncpg.Pool
    reply_seconds: float
    lookups: ReplayLookups = field(init=False)
    produces: Produces = field(init=False)

    def __post_init__(self) -> None:
        self.lookups = ReplayLookups(self.pool)
        self.produces = Produces(self.producer)

    async def answer(self, request: Forward) -> Replied | NoReply:
        """The reply to `request`: recorded already (a replay), else forwarded and awaited. A replay that finds no
        record is forwarded again as the same bytes: the services' inbox skips it if they had it, and the reply
        to the first copy, read by the tail, wakes this one too."""
        waiting = self.tail.expect(request.request_id)
        try:
            try:
                known = self.tail.read_not_recorded(request.request_id) or await self.lookups.reply_of(
                    request.request_id
                )
            except Exception as exc:
                if not is_transient(exc):
                    raise
                return NoReply(503, "the gateway cannot reach its database; send the identical request again")
            if known is not None:
                return Replied(known, replayed=True)
            try:
                await self.produces.send_and_wait(INGEST_REQUESTS, request.value, request.merchant_id.encode())
            except KafkaError:
                return NoReply(503, "the request could not be forwarded; send the identical request again")
            return Replied(await asyncio.wait_for(asyncio.shield(waiting), self.reply_seconds), replayed=False)
        except TimeoutError:
            return NoReply(504, "no reply yet; send the identical request again to get its outcome")
        except GaveUp:
            return NoReply(503, "the gateway is stopping; send the identical request again to get its outcome")
        finally:
            self.tail.forget(request.request_id, waiting)
            if not waiting.done():
                waiting.cancel()
            elif not waiting.cancelled():
                waiting.exception()  # retrieved: a GaveUp nobody awaited is not "never retrieved"

    async def put_payment(self, body: bytes, merchant_id: str) -> bool:
        """The result on ecticket.ingest.payments.v1, acknowledged by every in-sync replica (acks=all): only then
        may the sender be told `1|OK`."""
        try:
            await self.produces.send_and_wait(INGEST_PAYMENTS, body, merchant_id.encode())
        except KafkaError:
            return False
        return True
