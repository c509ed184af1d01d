"""The loss of one broker of the three-node cluster: no downtime, no acknowledged write lost (issue 15).

    INFRA_NAME=mb KAFKA_BROKERS=3 bash deploy/local/infra.sh up && source .run/mb/env
    .venv/bin/python deploy/bench/broker_failover.py            # kills node 2 (SIGKILL) halfway, restarts it after

Produces numbered messages with acks=all (the platform's relay settings: idempotent, acks=all) at a steady rate to
a fresh replicated topic, kills a broker halfway, then reads the topic back: every acknowledged number must be
there exactly once. Prints the longest time a send waited for its acknowledgement around the kill (the stall
clients see while partition leadership moves), and appends the figures to docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from deploy.bench.common import ROOT, Report, percentile
from shared.infra.kafka_auth import kafka_security

RATE = 500  # messages/s
SECONDS = 20
VICTIM = 2  # the node killed


async def main() -> None:
    bootstrap = os.environ["KAFKA_BOOTSTRAP"]
    topic = f"failover-check-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_security())
    await admin.start()
    await admin.create_topics([NewTopic(topic, 6, 3, topic_configs={"min.insync.replicas": "2"})])
    await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=2, **kafka_security()
    )
    await producer.start()
    waits: list[tuple[float, float]] = []  # (sent at, seconds until acknowledged)
    acked: set[int] = set()

    async def send(n: int) -> None:
        at = time.perf_counter()
        await (await producer.send(topic, str(n).encode(), key=str(n % 60).encode()))
        waits.append((at, time.perf_counter() - at))
        acked.add(n)

    pending = []
    start = time.perf_counter()
    killed_at = 0.0
    for n in range(RATE * SECONDS):
        await asyncio.sleep(max(0.0, start + n / RATE - time.perf_counter()))
        if n == RATE * SECONDS // 2:
            killed_at = time.perf_counter()
            kill = ["bash", str(ROOT / "deploy/local/infra.sh"), "kafka-restart", "5", "kill", str(VICTIM)]
            restart = await asyncio.create_subprocess_exec(*kill, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        pending.append(asyncio.create_task(send(n)))
    await asyncio.gather(*pending)
    await restart.wait()
    await producer.stop()

    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None, **kafka_security()
    )
    await consumer.start()
    seen: list[int] = []
    deadline = time.perf_counter() + 60
    while len(seen) < len(acked) and time.perf_counter() < deadline:
        for records in (await consumer.getmany(timeout_ms=500)).values():
            seen += [int(r.value or b"-1") for r in records]
    await consumer.stop()

    lost = len(acked - set(seen))
    repeated = len(seen) - len(set(seen))
    around = [w for at, w in waits if abs(at - killed_at) < 10]
    report = Report("Broker failover: one of three brokers killed", "python deploy/bench/broker_failover.py")
    report.add(f"messages acknowledged (acks=all, {RATE}/s for {SECONDS} s)", f"{len(acked):,}")
    report.add("acknowledged but not read back / read back twice", f"{lost} / {repeated}")
    report.add("acknowledgement wait p50 / p99 / max, 10 s around the kill",
               f"{percentile(around, 0.5) * 1000:,.0f} / {percentile(around, 0.99) * 1000:,.0f} / "
               f"{max(around) * 1000:,.0f} ms")  # fmt: skip
    report.append_to_docs()
    if lost or repeated:
        raise SystemExit(f"{lost} acknowledged messages lost, {repeated} duplicated")


if __name__ == "__main__":
    asyncio.run(main())
