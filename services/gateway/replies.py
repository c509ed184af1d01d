"""The reply tail: every partition of ecticket.ingest.replies.v1, read by every gateway instance.

Each gateway reply read wakes the request waiting for it (if it waits here) at once, before anything is written,
then the batch is recorded in the `replies` table with the positions after it. A request forwarded by an instance
that then died is still recorded (by any instance, from the stored positions), so its replay finds its answer.
No consumer group: each instance must see every reply, whichever partition its merchant hashes to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.gateway import store
from services.gateway.inbound import REQUEST_ID_PREFIX
from shared import bounded_json
from shared.infra.faults import Backoff, is_transient
from shared.infra.fetch_pacing import FetchPacing
from shared.infra.kafka_auth import kafka_security
from shared.infra.topics_admin import partitions_of
from shared.topics import INGEST_REPLIES

log = logging.getLogger(__name__)

REPLIES_IDLE_WAIT_MS = 100  # short while replies flow (`fetch_pacing`)
MAX_REPLY_BYTES = 1024 * 1024  # a reply is one message under the platform's 256 KiB; the broker's own limit
# Cheap pre-check before parsing: a gateway request id appears as a JSON string, however the envelope is spaced.
_GATEWAY_REPLY = b'"' + REQUEST_ID_PREFIX.encode()


class GaveUp(Exception):
    """The gateway is stopping and the reply did not come in time."""


class ReplyTail:
    def __init__(self, bootstrap: str, pool: asyncpg.Pool) -> None:
        self.bootstrap, self.pool = bootstrap, pool
        self._waiters: dict[str, set[asyncio.Future[str]]] = {}
        self._unrecorded: dict[str, str] = {}  # read, not yet committed to `replies`
        self._consumer: AIOKafkaConsumer | None = None
        self.running = False

    async def start(self) -> None:
        """Assign every partition, from the stored positions (from the end, the first time ever)."""
        known = await partitions_of(self.bootstrap, [INGEST_REPLIES])
        partitions = [TopicPartition(INGEST_REPLIES, p) for p in sorted(known[INGEST_REPLIES])]
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=REPLIES_IDLE_WAIT_MS,
            **kafka_security(),
        )
        await consumer.start()
        consumer.assign(partitions)
        stored = await store.positions(self.pool)
        for tp in partitions:
            if tp.partition in stored:
                consumer.seek(tp, stored[tp.partition])
            else:
                await consumer.seek_to_end(tp)
            await consumer.position(tp)  # fixed now: a reply to a request forwarded after start() is never missed
        self._consumer = consumer

    def expect(self, request_id: str) -> asyncio.Future[str]:
        """A future for the reply to `request_id`, set as soon as the tail reads it."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(request_id, set()).add(future)
        return future

    def forget(self, request_id: str, future: asyncio.Future[str]) -> None:
        waiting = self._waiters.get(request_id)
        if waiting is not None:
            waiting.discard(future)
            if not waiting:
                del self._waiters[request_id]

    def read_not_recorded(self, request_id: str) -> str | None:
        """A reply read but not committed yet (registering a waiter, then asking this, then the table, misses none)."""
        return self._unrecorded.get(request_id)

    def give_up_all(self) -> None:
        for waiting in self._waiters.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(GaveUp())

    async def run(self, stop: asyncio.Event) -> None:
        assert self._consumer is not None, "start() first"
        self.running = True
        # Each fetch answered at its first reply: handing a reply to its waiting request takes microseconds, so
        # nothing is gained by gathering a few (fetch_pacing.py) and a lone reply would wait for them.
        pacing = FetchPacing(self._consumer, busy_bytes=1, idle_ms=REPLIES_IDLE_WAIT_MS)
        try:
            while not stop.is_set():
                batch = await self._consumer.getmany(timeout_ms=200, max_records=1000)
                pacing.after_poll(sum(len(records) for records in batch.values()))
                if not batch:
                    continue
                answered = [a for records in batch.values() for r in records if (a := self._read(r.value)) is not None]
                for a in answered:
                    self._unrecorded[a.request_id] = a.response
                    for future in self._waiters.get(a.request_id, ()):
                        if not future.done():
                            future.set_result(a.response)
                read_up_to = {tp.partition: records[-1].offset + 1 for tp, records in batch.items()}
                await self._record(answered, read_up_to, stop)
                for a in answered:
                    self._unrecorded.pop(a.request_id, None)
        finally:
            self.running = False

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def _record(self, answered: list[store.Answered], read_up_to: dict[int, int], stop: asyncio.Event) -> None:
        """Until it is stored: replies keep waking their requests from memory meanwhile, and positions stay put, so
        a crash re-reads them. Stopping gives up (the next start re-reads from the stored positions)."""
        backoff = Backoff(0.1, 5.0)
        while True:
            try:
                await store.record(self.pool, answered, read_up_to)
                return
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("recording %d replies failed; retrying", len(answered))
                else:
                    log.warning("recording %d replies failed (%r); retrying", len(answered), exc)
                if stop.is_set():
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff.next())

    @staticmethod
    def _read(value: bytes | None) -> store.Answered | None:
        """A gateway request's reply, or None for anything else (a Kafka client's reply, a stranger's bytes)."""
        if not value or _GATEWAY_REPLY not in value:
            return None
        try:
            event = bounded_json.loads(value, max_bytes=MAX_REPLY_BYTES, max_depth=6, max_string=MAX_REPLY_BYTES)
            payload = event["payload"]
            request_id, response = payload["request_id"], payload["response"]
            if event.get("event_type") != "RequestReplied" or not isinstance(response, dict):
                return None
            if not isinstance(request_id, str) or not request_id.startswith(REQUEST_ID_PREFIX):
                return None
            replied_at = datetime.fromisoformat(payload["replied_at"])
            text = json.dumps(response, separators=(",", ":"), ensure_ascii=False)
            return store.Answered(
                str(request_id), str(payload["operation"]), str(payload["merchant_id"]), text, replied_at
            )
        except (ValueError, KeyError, TypeError):
            log.warning("a message on %s that looks like a gateway reply could not be read; skipped", INGEST_REPLIES)
            return None
