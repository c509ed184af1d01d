"""A relay while the broker is away (shared/infra/relay.py): it keeps trying, publishes nothing, loses nothing, and
leaves no Kafka client behind from its failed terms (each term makes a producer; one whose start failed is stopped
too, or an outage of an hour would leave hundreds open)."""

from __future__ import annotations

import asyncio
import logging
import uuid

import asyncpg

from shared.contracts.events import Outgoing
from shared.infra import outbox
from shared.infra.relay import OutboxRelay
from shared.settings import Settings
from shared.topics import INGEST_REPLIES
from tests.support.leaks import unclosed
from tests.support.ports import free_port


class FailedTerms(logging.Handler):
    """Counts the relay's failed terms without keeping their records: a record's arguments hold the term's
    exception, and through its traceback the term's producer, which would then outlive the test."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "reconnecting" in record.getMessage()


async def test_a_relay_that_cannot_reach_the_broker_keeps_its_events_and_leaves_no_producer_open(
    topics: Settings, messaging_schema: tuple[asyncpg.Pool, str]
) -> None:
    pool, schema = messaging_schema
    async with pool.acquire() as conn:
        await outbox.append(
            conn, schema, [Outgoing.serialised(INGEST_REPLIES, "M1", uuid.uuid4(), "RequestReplied", b"{}")]
        )
    relay = OutboxRelay(schema, topics.database_url, f"127.0.0.1:{free_port()}")
    relay_log, failed_terms = logging.getLogger("shared.infra.relay"), FailedTerms()
    relay_log.addHandler(failed_terms)
    relay_log.propagate = False  # kept out of pytest's captured log for the same reason
    try:
        with unclosed() as leaks:
            running = asyncio.create_task(relay.run())
            try:
                for _ in range(200):
                    if failed_terms.count >= 3:
                        break
                    await asyncio.sleep(0.05)
            finally:
                relay.stopping.set()
                await asyncio.wait_for(running, 20)
    finally:
        relay_log.removeHandler(failed_terms)
        relay_log.propagate = True

    assert failed_terms.count >= 3
    assert leaks == []
    assert relay.published == 0
    assert await pool.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL") == 1
