"""Commit stalls: how often a durable PostgreSQL commit, and an acknowledged Kafka write, of a running instance take
long, while something else loads it. `source .run/<name>/env && python -m deploy.bench.commit_stalls --seconds 100`
beside a load (a `deploy.bench.writeoff_hops` run, say), then the same with the setting under test changed.

Every 10 ms one probe commits a one-row insert (a logged table, so the commit waits for its WAL to reach the disk),
and another writes one record to a scratch topic and waits for the broker's acknowledgement. Each probe prints how
many took over 50 and over 200 ms, and the longest. The table and the topic are dropped afterwards. Printed, not
appended to docs/benchmarks.md. The probes add about 200 small operations a second to the load.

Why it exists: a write-off's tail at 1,000/s held stretches where nothing moved for up to 1.4 s. This probe showed
the commits stalling then, and the broker's writes not (docs/benchmarks.md, "Commit stalls behind the broker's page
writeback").
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg

from deploy.bench.broker_warmup import delete_topic
from deploy.bench.common import load_producer
from shared.infra.topics_admin import ensure_topics
from shared.settings import Settings
from shared.topics import Topic

PERIOD = 0.01
SLOW, VERY_SLOW = 0.05, 0.2


async def probe(operation: Callable[[], Awaitable[object]], until: float) -> list[float]:
    """Run `operation` every PERIOD until `until`; the durations of the ones over SLOW, in seconds."""
    slow = []
    while time.monotonic() < until:
        started = time.monotonic()
        await operation()
        took = time.monotonic() - started
        if took > SLOW:
            slow.append(took)
        await asyncio.sleep(PERIOD)
    return slow


def summary(name: str, slow: list[float]) -> str:
    longest = f"{1000 * max(slow):,.0f} ms" if slow else "-"
    over = sum(1 for s in slow if s > VERY_SLOW)
    return f"{name:<28} over {SLOW * 1000:.0f} ms: {len(slow):4}   over {VERY_SLOW * 1000:.0f} ms: {over:4}   longest: {longest}"


async def main(seconds: float) -> None:
    settings = Settings.from_env()
    table = f"public.commit_probe_{uuid.uuid4().hex[:8]}"
    topic = f"bench.commit-probe.{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(settings.database_url)
    await conn.execute(f"CREATE TABLE {table} (at timestamptz NOT NULL DEFAULT now())")
    await ensure_topics(settings.kafka_bootstrap, (Topic(topic, 1, 600_000, False, "none", "commit probe"),))
    producer = await load_producer(settings.kafka_bootstrap, linger_ms=0)
    try:
        until = time.monotonic() + seconds
        commits, writes = await asyncio.gather(
            probe(lambda: conn.execute(f"INSERT INTO {table} DEFAULT VALUES"), until),
            probe(lambda: producer.send_and_wait(topic, b"probe"), until),
        )
    finally:
        await producer.stop()
        await conn.execute(f"DROP TABLE {table}")
        await conn.close()
        await delete_topic(settings.kafka_bootstrap, topic)
    print(f"{seconds:.0f} s, one probe of each every {PERIOD * 1000:.0f} ms")
    print(summary("PostgreSQL commit (fsync)", commits))
    print(summary("Kafka write (acks=all)", writes))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=100.0)
    args = parser.parse_args()
    asyncio.run(main(args.seconds))
