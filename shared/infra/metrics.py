"""Prometheus metrics of a service process, served on its own port (`/metrics`), and the SQL probes behind the gauges.

What the consumer, the runtime and the timers count as they go (consumed, dead-lettered, batch sizes and durations,
timer steps), and what a probe every PROBE_SECONDS reads from the service's own schema: the outbox backlog and the
age of its oldest unpublished event, how long the relay took to publish what it published since the last probe
(created_at -> published_at: measured from the outbox, so the relay itself carries no metrics code), open dead
letters, and per service the backlog only it knows (redemption's due expiries, settlement's transfers, exceptions,
alerts and quarantined subjects).

Ports: METRICS_PORT (this process) wins; else METRICS_PORT_BASE (one per infra instance, deploy/local/infra.sh)
plus the service's fixed offset in PORT_OFFSETS. A port already taken (a second instance of the same service, as
the crash tests start) falls back to a free one, logged: a process never fails for its metrics. METRICS_PORT=off
serves nothing.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge, Histogram, start_http_server

log = logging.getLogger(__name__)

PROBE_SECONDS = 5.0
DEFAULT_PORT_BASE = 9400
PORT_OFFSETS = {
    "payment-confirmation": 0,
    "issuance": 1,
    "redemption": 2,
    "escrow_settlement": 3,
    "query": 4,
    "escrow_bank": 5,
    "payment_processor": 6,
    "ops": 7,
    "gateway": 8,
    "notification": 9,
}

CONSUMED = Counter("ecticket_messages_consumed", "Records a consumer took from Kafka", ["service", "topic"])
REJECTED = Counter(
    "ecticket_messages_rejected", "Records dead-lettered (stored with their bytes)", ["service", "topic", "stage"]
)
BATCH_SIZE = Histogram(
    "ecticket_consumer_batch_size",
    "Records per consumer batch",
    ["service"],
    buckets=(1, 5, 10, 25, 50, 100, 250, 500, 1000),
)
BATCH_SECONDS = Histogram(
    "ecticket_consumer_batch_duration_seconds",
    "Time to apply one consumer batch (parse, transaction, offsets)",
    ["service"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
TIMER_SECONDS = Histogram("ecticket_timer_step_duration_seconds", "One step of a periodic job", ["service", "timer"])
TIMER_FAILURES = Counter("ecticket_timer_step_failures", "Steps of a periodic job that raised", ["service", "timer"])
OUTBOX_BACKLOG = Gauge("ecticket_outbox_backlog", "Outbox events not published yet", ["service"])
OUTBOX_AGE = Gauge(
    "ecticket_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event (0: none)", ["service"]
)
RELAY_DELAY = Histogram(
    "ecticket_relay_publish_delay_seconds",
    "From an event's outbox append to its publication",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
REPLIES_REROUTED = Counter(
    "ecticket_replies_rerouted",
    "Replies for a sender's own reply topic that does not exist, sent to the shared reply topic instead"
    " (shared/infra/door_fallback.py)",
    ["service", "topic"],
)
DEAD_LETTERS_OPEN = Gauge(
    "ecticket_dead_letters_open", "Dead letters not re-driven or dismissed", ["service", "touches_money"]
)
EXPIRY_DUE = Gauge(
    "ecticket_redemption_expiry_due", "Tickets whose expiry is due and not applied yet (scheduler backlog)"
)
TRANSFERS = Gauge("ecticket_settlement_transfers", "Bank transfers by kind and status", ["transfer", "status"])
TRANSFER_AMOUNT = Gauge(
    "ecticket_settlement_transfer_amount_ntd", "NT$ of bank transfers by kind and status", ["transfer", "status"]
)
EXCEPTIONS = Gauge("ecticket_settlement_exceptions", "Settlement exceptions raised for operations")
ALERTS = Gauge("ecticket_settlement_alerts", "Ledger alerts raised", ["severity"])
CONSUMER_LAG = Gauge(
    "ecticket_consumer_lag", "Records a consumer group has not committed yet (the ops app reads it)", ["group"]
)
QUARANTINED = Gauge("ecticket_settlement_quarantined_subjects", "Orders or merchants stopped by an invariant violation")

_service = "unknown"


def serve(service: str) -> int | None:
    """Start the /metrics server (a thread of prometheus-client's own); the port it listens on, None if off."""
    global _service
    _service = service
    wanted = os.environ.get("METRICS_PORT")
    if wanted == "off":
        return None
    base = int(os.environ.get("METRICS_PORT_BASE", DEFAULT_PORT_BASE))
    port = int(wanted) if wanted else base + PORT_OFFSETS.get(service, 50)
    for attempt in (port, 0):
        try:
            server, _ = start_http_server(attempt)
        except OSError as exc:
            log.warning("%s: metrics port %d is taken (%r); serving on a free one", service, attempt, exc)
            continue
        bound = int(server.server_port)
        log.info("%s: metrics on http://127.0.0.1:%d/metrics", service, bound)
        return bound
    return None


def batch_applied(service: str, topics: Sequence[str], seconds: float) -> None:
    # A label lookup per topic, not per record: the ops app's batches are thousands of records.
    for topic, count in collections.Counter(topics).items():
        CONSUMED.labels(service, topic).inc(count)
    BATCH_SIZE.labels(service).observe(len(topics))
    BATCH_SECONDS.labels(service).observe(seconds)


def replies_rerouted(service: str) -> Callable[[str, int], None]:
    """How a sender counts the replies it sent to the shared reply topic instead of a door's (door_fallback)."""
    return lambda topic, records: REPLIES_REROUTED.labels(service, topic).inc(records)


def dead_lettered(service: str, letters: Iterable[Any]) -> None:
    """`letters`: shared.infra.deadletters.DeadLetter (not imported: the consumer imports this module)."""
    for letter in letters:
        REJECTED.labels(service, letter.record.topic, letter.stage.value).inc()


def timer_step(timer: str, started: float, failed: bool) -> None:
    TIMER_SECONDS.labels(_service, timer).observe(time.perf_counter() - started)
    if failed:
        TIMER_FAILURES.labels(_service, timer).inc()


class Probe:
    """Reads the service's own schema every PROBE_SECONDS (a timer step of the service's runtime)."""

    def __init__(self, service: str, schema: str, pool: asyncpg.Pool) -> None:
        self.service, self.schema, self.pool = service, schema, pool
        self._seen_seq: int | None = None  # the relay delays observed so far end here

    async def step(self) -> bool:
        async with self.pool.acquire() as conn:
            await self._outbox(conn)
            await self._dead_letters(conn)
            if self.schema == "redemption":
                EXPIRY_DUE.set(await conn.fetchval("SELECT count(*) FROM tickets WHERE due_at <= now()"))
            elif self.schema == "escrow_settlement":
                await _settlement(conn)
        return False

    async def _outbox(self, conn: asyncpg.Connection) -> None:
        row = await conn.fetchrow("SELECT rows AS n, extract(epoch FROM now() - oldest) AS age FROM outbox_backlog()")
        OUTBOX_BACKLOG.labels(self.service).set(row["n"])
        OUTBOX_AGE.labels(self.service).set(float(row["age"] or 0))
        if self._seen_seq is None:  # history before this process started is not this process's latency
            self._seen_seq = await conn.fetchval("SELECT coalesce(max(seq), 0) FROM outbox")
            return
        delays = await conn.fetch(
            "SELECT seq, extract(epoch FROM published_at - created_at) AS delay FROM outbox"
            " WHERE seq > $1 AND published_at IS NOT NULL ORDER BY seq LIMIT 10000",
            self._seen_seq,
        )
        for r in delays:
            RELAY_DELAY.labels(self.service).observe(max(0.0, float(r["delay"])))
        if delays:
            self._seen_seq = delays[-1]["seq"]

    async def _dead_letters(self, conn: asyncpg.Connection) -> None:
        rows = await conn.fetch(
            "SELECT touches_money, count(*) AS n FROM dead_letters WHERE resolved_at IS NULL GROUP BY 1"
        )
        counts = {bool(r["touches_money"]): int(r["n"]) for r in rows}
        for money in (True, False):
            DEAD_LETTERS_OPEN.labels(self.service, str(money).lower()).set(counts.get(money, 0))


async def _settlement(conn: asyncpg.Connection) -> None:
    for r in await conn.fetch(
        "SELECT transfer, status, count(*) AS n, coalesce(sum(amount), 0) AS amount FROM transfers GROUP BY 1, 2"
    ):
        TRANSFERS.labels(r["transfer"], r["status"]).set(r["n"])
        TRANSFER_AMOUNT.labels(r["transfer"], r["status"]).set(r["amount"])
    EXCEPTIONS.set(await conn.fetchval("SELECT count(*) FROM ledger_exceptions"))
    for r in await conn.fetch("SELECT severity, count(*) AS n FROM alerts GROUP BY 1"):
        ALERTS.labels(r["severity"]).set(r["n"])
    QUARANTINED.set(await conn.fetchval("SELECT count(*) FROM quarantine"))
