"""Wiring only: the faust app, its topics, changelog-backed tables, agents, timers and web routes.

Two agents, because faust keeps a table's changelog partitioned like its source topics: the four domain-event
topics (6 partitions) feed `ops-partitions` and `ops-orders`; the bank conversation and the rejections (3
partitions) feed `ops-side`. Each agent is a three-line adapter over `handlers.Folding`.

Acknowledgements: `stream_ack_exceptions=False` is set as asked, but faust-streaming 0.15.3 ignores that setting
(deprecated, "no longer has any effect") and acks an event when the agent's `async for` leaves it, exception or
not. So the agents take batches with `noack_take` and `Folding` acks each event only after its batch was applied
and the batch's changelog records were acknowledged by the broker; an exception (in the fold or the changelog
write) leaves the batch unacknowledged, its offsets uncommitted, and the crash supervisor stops the worker
(tests/unit/test_ops_agents.py proves it).

Speed (docs/benchmarks.md, "Ops app"): the consumer hands records over per fetch (`faust_consumer`), faust's
Monitor keeps no per-record statistics (`faust_monitor`), a record is parsed in one pass (`inbound`), and the
changelog records go to the producer in bulk (`handlers`).
"""

from __future__ import annotations

from typing import Any

import faust
from mode import CrashingSupervisor

from services.ops.config import OpsConfig
from services.ops.faust_consumer import OpsFaustApp
from services.ops.faust_monitor import QuietMonitor
from services.ops.handlers import Folding, Live, Send
from services.ops.runtime import OpsRuntime
from services.ops.web import routes
from shared.infra.kafka_auth import faust_credentials
from shared.infra.quotas import OPS_CLIENT
from shared.topics import (
    ISSUANCE_EVENTS,
    PAYMENT_EVENTS,
    REDEMPTION_EVENTS,
    REJECTIONS,
    SETTLEMENT_EVENTS,
    SETTLEMENT_INSTRUCTIONS,
)

CHANGELOG_SEGMENT_MS = 10 * 60 * 1000
FETCH_BYTES_PER_PARTITION = 64 * 1024
EVENT_TOPICS = (PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_EVENTS)
SIDE_TOPICS = (SETTLEMENT_INSTRUCTIONS, REJECTIONS)


def build(config: OpsConfig, send: Send | None = None) -> tuple[faust.App, OpsRuntime]:
    """`send`: where the tables' changelog records go (default: the app's producer; the unit tests record them)."""
    app = OpsFaustApp(
        config.app_id,
        broker=f"kafka://{config.settings.kafka_bootstrap}",
        # The read-only `ops` principal when the broker authenticates, over TLS when it speaks TLS (kafka_auth.py).
        broker_credentials=faust_credentials(),
        store="memory://",  # the changelog is the durable copy: a restart reads it back (no RocksDB here)
        datadir=config.data_dir,
        web_host=config.web_host,
        web_port=config.web_port,
        web_in_thread=False,
        stream_ack_exceptions=False,
        broker_client_id=OPS_CLIENT,  # the platform's own producer: exempt from the produce quotas
        consumer_auto_offset_reset=config.offset_reset,
        producer_acks=-1,
        # The tables' changelog records go out in batches: unlingered, every order's record was a produce request
        # of its own (measured: 14,000 requests for 16,000 records, the app folding 1,450 events/s). A batch's
        # records are awaited together, so the linger is paid once a batch, not once a record.
        producer_linger=0.02,
        producer_max_batch_size=1024 * 1024,
        stream_buffer_maxsize=config.batch * 2,  # a whole batch may wait unacknowledged while it is folded
        # What the Kafka client reads ahead, per partition (faust's default 1 MiB): it fetches every assigned
        # partition that has nothing buffered, so a restart's read-back of 15 changelog partitions and a backlog on
        # 30 source partitions buffered up to 45 MiB of records at once. 64 KiB (a hundred events or so a fetch)
        # took a restarted app's peak from 208 to 177 MB and caught up as fast (docs/benchmarks.md).
        consumer_max_fetch_size=FETCH_BYTES_PER_PARTITION,
        Monitor=QuietMonitor,  # no per-record statistics for faust's own stats page (not served here)
    )
    live = Live()
    runtime = OpsRuntime(config, live)
    # A partition's state is one value of tens of KB, written once a batch: its changelog holds a version per batch,
    # which recovery decoded 1,000 at a time (faust's default buffer). Ten at a time (a restarted app's peak: 237 ->
    # 208 MB, docs/benchmarks.md), an order's timeline a hundred at a time, and segments rolled every ten minutes so
    # that compaction keeps the topics to their latest values (and the orders' tombstones) rather than every version
    # ever written.
    compacted = {"segment.ms": str(CHANGELOG_SEGMENT_MS)}
    states = app.Table(
        "ops-partitions", default=None, partitions=6, recovery_buffer_size=10, extra_topic_configs=compacted
    )
    orders = app.Table(
        "ops-orders", default=None, partitions=6, recovery_buffer_size=100, extra_topic_configs=compacted
    )
    side = app.Table("ops-side", default=None, partitions=3, recovery_buffer_size=10, extra_topic_configs=compacted)

    async def produce(topic: str, key: bytes, value: bytes | None, partition: int) -> Any:
        return await app.producer.send(topic, key, value, partition, None, None)

    events = Folding(states, orders, runtime.pool, live, send or produce, config.orders_kept)
    others = Folding(side, None, runtime.pool, live, send or produce)
    batch, within = config.batch, config.batch_within

    @app.agent(
        app.topic(*EVENT_TOPICS, key_serializer="raw", value_serializer="raw"),
        name="ops-events",
        supervisor_strategy=CrashingSupervisor,
    )
    async def fold_events(stream: Any) -> None:
        async for taken in stream.noack_take(batch, within):
            await events.on_batch(stream, taken)

    @app.agent(
        app.topic(*SIDE_TOPICS, key_serializer="raw", value_serializer="raw"),
        name="ops-side",
        supervisor_strategy=CrashingSupervisor,
    )
    async def fold_side(stream: Any) -> None:
        async for taken in stream.noack_take(batch, within):
            await others.on_batch(stream, taken)

    runtime.attach(app, states=[states, side], orders=orders)
    routes.register(app, runtime)
    return app, runtime
