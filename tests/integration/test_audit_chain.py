"""The relay links every event it publishes into its service's chain and signs the chain's tail; a batch linked by
a relay that died before marking it published goes out again with the same links."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import chain as links
from shared.contracts.events import Outgoing, wrap
from shared.contracts.rejections import MessageRejected
from shared.infra import chain, outbox
from shared.infra.kafka_auth import kafka_security
from shared.infra.relay import OutboxRelay
from shared.settings import Settings
from shared.topics import AUDIT_CHECKPOINTS, INGEST_REPLIES, REJECTIONS

NOW = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)


def events(count: int) -> list[Outgoing]:
    made = []
    for offset in range(count):
        rejected = MessageRejected(consumer="t", source_topic="t", source_partition=0, source_offset=offset,
                                   raw_size=0, raw_sha256="", raw_preview="", error="e", rejected_at=NOW)  # fmt: skip
        made.append(wrap(rejected, event_id=uuid.uuid4(), occurred_at=NOW, producer="t", correlation_id="c",
                         causation_id=None))  # fmt: skip
    return made


async def read_all(bootstrap: str, topic: str) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """Every record on `topic` now: value and headers, partition by partition."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_security())
    await consumer.start()
    try:
        parts = [
            TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or await _parts(consumer, topic)
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        found = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                found += [(r.value, list(r.headers)) for r in records]
        return found
    finally:
        await consumer.stop()


async def _parts(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # a fresh consumer knows no topics yet
    return consumer.partitions_for_topic(topic) or set()


async def run_relay(infra: Settings, schema: str, key: Ed25519PrivateKey, until_published: int) -> None:
    checkpointer = chain.Checkpointer(key, "test-key", every_events=4, every_seconds=60)
    relay = OutboxRelay(schema, infra.database_url, infra.kafka_bootstrap, checkpointer)
    task = asyncio.create_task(relay.run())
    for _ in range(200):
        if relay.published >= until_published:
            break
        await asyncio.sleep(0.05)
    relay.stopping.set()
    await asyncio.wait_for(task, 20)
    assert relay.published == until_published


async def test_a_relay_restart_republishes_a_linked_batch_with_the_same_links_and_signs_the_tail(
    topics: Settings, messaging_schema: tuple[asyncpg.Pool, str]
) -> None:
    # `topics`: the catalog's topics exist. As the suite's first integration test this one met a fresh broker
    # without them (no auto-creation), and the relay waited for them for ever.
    infra = topics
    pool, schema = messaging_schema
    key = Ed25519PrivateKey.generate()
    first, second = events(3), events(5)
    async with pool.acquire() as conn:
        await outbox.append(conn, schema, first)
        # A relay that linked the batch, then died before sending it: the links are recorded, nothing is in Kafka.
        tail = await chain.load_tail(conn, schema)
        rows = await conn.fetch("SELECT seq, topic, key, value, event_type FROM outbox ORDER BY seq")
        linked = await chain.link(conn, tail, rows)
        # A reply between them: its topic expires after 30 days, so it goes out unlinked and leaves no hole.
        reply = Outgoing.serialised(
            INGEST_REPLIES, "M1", uuid.uuid4(), "RequestReplied", b'{"reply":"%s"}' % schema.encode()
        )
        await outbox.append(conn, schema, [*second[:2], reply, *second[2:]])
    await run_relay(infra, schema, key, until_published=9)

    published = [
        (value, links.link_from_headers(headers))
        for value, headers in await read_all(infra.kafka_bootstrap, REJECTIONS)
        if ("chain", schema.encode()) in headers
    ]
    by_seq = {link.seq: (value, link) for value, link in published if link is not None}
    assert sorted(by_seq) == list(range(1, 9)) and len(published) == 8
    first_links = [x for x in linked.links if x is not None]
    assert len(first_links) == 3 and [by_seq[x.seq][1] for x in first_links] == first_links
    assert [by_seq[seq][0] for seq in range(1, 9)] == [e.value for e in first + second]
    for seq in range(2, 9):
        assert by_seq[seq][1].prev == by_seq[seq - 1][1].link
    [replied] = [
        headers for value, headers in await read_all(infra.kafka_bootstrap, INGEST_REPLIES) if value == reply.value
    ]
    assert links.link_from_headers(replied) is None
    stored = await pool.fetch("SELECT chain_seq, chain_link FROM outbox WHERE chain_seq IS NOT NULL ORDER BY chain_seq")
    assert [(r["chain_seq"], bytes(r["chain_link"])) for r in stored] == [(s, by_seq[s][1].link) for s in range(1, 9)]

    checkpoints = [
        links.Checkpoint.from_bytes(value) for value, _ in await read_all(infra.kafka_bootstrap, AUDIT_CHECKPOINTS)
    ]
    ours = [c for c in checkpoints if c.service == schema]
    assert ours and ours[-1].seq == 8 and ours[-1].link == by_seq[8][1].link
    assert all(c.verifies({"test-key": key.public_key()}) for c in ours)
