"""The relay's read of the outbox from its floor, on an outbox full of published rows (docs/benchmarks.md, "Memory
at the peak, and the relay's read of the outbox", and "Marking the outbox published in place";
shared/infra/outbox_floor.py).

In a schema of its own it first writes `--published` rows and marks them published, as a relay does, with
autovacuum off for that outbox (an outbox between two VACUUMs). Then, `--rounds` times, a writer appends rows in
batches of 50 at `--rate` rows/s for `--seconds`, and a relay in this process publishes them, its first term
starting from the floor the outbox stores. Reported per round: the CPU of the relay's Postgres backend per row (from
/proc, so Postgres must run on this machine) and the publish delay (published_at - created_at) p50 / p99. (Until
the marks became HOT updates it also compared a read without the floor, from the start of the partial index of
unpublished rows; that index is gone, and so is the mode.) Run it against a running instance:

    source .run/dev/env && python -m deploy.bench.relay_read --published 1000000 --rate 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.infra.database import migrate
from shared.infra.kafka_auth import kafka_security
from shared.infra.outbox import notify_channel
from shared.infra.outbox_floor import ADVANCE_SECONDS
from shared.infra.relay import OutboxRelay
from shared.settings import Settings

TOPIC = "bench.relay-read"
BATCH = 50
APPEND = (
    "INSERT INTO outbox (event_id, topic, key, value, event_type) SELECT gen_random_uuid(), $1, 'M' || g,"
    " convert_to(repeat('x', 650), 'UTF8'), 'TicketExpired' FROM generate_series(1, $2) AS g"
)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def trickle(settings: Settings, schema: str, rate: int, seconds: float) -> str:
    pool = await asyncpg.create_pool(
        settings.database_url, min_size=1, max_size=1, server_settings={"search_path": schema}
    )
    relay = OutboxRelay(schema, settings.database_url, settings.kafka_bootstrap, floor_seconds=ADVANCE_SECONDS)
    running = asyncio.create_task(relay.run())
    try:
        backend = None
        while backend is None:
            await asyncio.sleep(0.2)
            backend = await pool.fetchval(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1", f"ecticket-{schema}-relay"
            )
        first = await pool.fetchval("SELECT coalesce(max(seq), 0) FROM outbox")
        used, appended, started = cpu_seconds(backend), 0, time.perf_counter()
        while time.perf_counter() - started < seconds:
            await pool.execute(APPEND, TOPIC, BATCH)
            await pool.execute("SELECT pg_notify($1, '')", notify_channel(schema))
            appended += BATCH
            await asyncio.sleep(max(0.0, started + appended / rate - time.perf_counter()))
        left = "SELECT count(*) FROM outbox WHERE published_at IS NULL AND seq > $1"
        while await pool.fetchval(left, first):  # noqa: ASYNC110 (the database polled: there is no event to wait on)
            await asyncio.sleep(0.1)
        used = cpu_seconds(backend) - used
        p50, p99 = await pool.fetchrow(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY published_at - created_at),"
            " percentile_cont(0.99) WITHIN GROUP (ORDER BY published_at - created_at) FROM outbox WHERE seq > $1",
            first,
        )
    finally:
        relay.stopping.set()
        await running
        await pool.close()
    return (
        f"from the floor: {appended:,} rows at {rate:,}/s, relay's Postgres backend {used * 1e6 / appended:,.0f} µs per row,"
        f" publish delay p50 / p99 {p50.total_seconds() * 1000:,.1f} / {p99.total_seconds() * 1000:,.1f} ms"
    )


async def main(published: int, rate: int, seconds: float, rounds: int) -> None:
    settings = Settings.from_env()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, **kafka_security())
    await admin.start()
    try:
        if TOPIC not in await admin.list_topics():
            await admin.create_topics([NewTopic(TOPIC, num_partitions=6, replication_factor=1)])
    finally:
        await admin.close()
    schema = "relay_read_" + uuid.uuid4().hex[:8]
    await migrate(settings.database_url, schema, Path(tempfile.mkdtemp()))
    conn = await asyncpg.connect(settings.database_url, server_settings={"search_path": schema})
    try:
        await conn.execute("ALTER TABLE outbox SET (autovacuum_enabled = false)")
        await conn.execute(APPEND, TOPIC, published)
        await conn.execute("UPDATE outbox SET published_at = now()")
        await conn.execute("UPDATE outbox_floor SET seq = (SELECT max(seq) + 1 FROM outbox)")  # as a relay leaves it
        print(f"{published:,} rows published since the outbox's last VACUUM (schema {schema})")
        for _ in range(rounds):
            print(await trickle(settings, schema, rate, seconds), flush=True)
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--published", type=int, default=1_000_000)
    parser.add_argument("--rate", type=int, default=1000, help="rows appended per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(main(args.published, args.rate, args.seconds, args.rounds))
