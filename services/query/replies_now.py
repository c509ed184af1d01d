"""Query replies sent by the query consumer itself, acknowledged by Kafka before its transaction commits, instead of
written to the outbox for the relay (docs/decisions.md, "Query replies straight from the consumer").

A query changes no state a reply depends on being recorded: it can be answered again. So the outbox's guarantee
(the reply is sent if and only if the transaction commits) is not needed, and its price is: one more hop through
the database and the relay process, a third of a query's latency at 500 queries/s. Sending before the commit keeps
"no reply lost": if the process dies after the send and before the commit, the query is fetched again and answered
again under the same reply id (deterministic), which every reader of the reply topic already drops as a repeat.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from shared.contracts.events import Outgoing
from shared.infra import metrics
from shared.infra.door_fallback import DoorFallback
from shared.infra.kafka_auth import kafka_security
from shared.infra.messages import BatchHandler, Inbound, Parsed
from shared.infra.quotas import QUERY_REPLIES_CLIENT
from shared.infra.relay import KeyPartitioner
from shared.infra.seal import platform_keyring
from shared.topics import INGEST_REPLIES, base_of


class RepliesNow:
    def __init__(self, bootstrap: str) -> None:
        self._keyring = platform_keyring()  # sealed as the relay seals every record it sends
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap,
            client_id=QUERY_REPLIES_CLIENT,
            enable_idempotence=True,
            acks="all",
            partitioner=KeyPartitioner(),  # the relay's: a reply lands where the relay would have put it
            **kafka_security(),
        )
        # A reply to a door deleted by hand goes to the shared reply topic.
        self._doors = DoorFallback("query", rerouted=metrics.replies_rerouted("query"))

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    def sending(self, handle: BatchHandler[Any]) -> BatchHandler[Any]:
        """`handle`, whose replies go to Kafka at once; what else it returns (none today) goes to the outbox."""

        async def handle_then_send(
            conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[Any]]]
        ) -> Sequence[Outgoing]:
            return await self.send(await handle(conn, items))

        return handle_then_send

    async def send(self, outgoing: Sequence[Outgoing]) -> list[Outgoing]:
        """Send the replies among `outgoing` and wait until Kafka has them all; return the rest. A failure raises
        (the consumer retries a transient one with the whole batch: the replies sent then go again, same ids)."""
        replies = [o for o in outgoing if base_of(o.topic) == INGEST_REPLIES]  # a sender's own reply topic too
        moved = await self._doors.moved(self._producer.client, [o.topic for o in replies])
        deliveries = []
        for o in replies:
            key = o.key.encode()
            topic = moved.get(o.topic, o.topic)
            headers = [("event_type", o.event_type.encode()), *self._keyring.headers(topic, key, o.value)]
            deliveries.append(await self._producer.send(topic, o.value, key=key, headers=headers))
        await asyncio.gather(*deliveries)
        return [o for o in outgoing if base_of(o.topic) != INGEST_REPLIES]
