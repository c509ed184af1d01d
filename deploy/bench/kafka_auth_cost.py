"""What SASL/SCRAM costs: CPU seconds of the broker and of the client per 10,000 records produced (acks=all) and
consumed, and the time to open a connection, on whichever broker the environment points at (KAFKA_AUTH says
whether it authenticates). Run it against an instance of each kind and compare (docs/benchmarks.md, "Kafka
authentication"):

    INFRA_NAME=sasl bash deploy/local/infra.sh up && source .run/sasl/env && python -m deploy.bench.kafka_auth_cost
    INFRA_NAME=plain KAFKA_AUTH=none bash deploy/local/infra.sh up && source .run/plain/env && python -m ...

It creates and deletes a scratch topic of its own; CPU time, unlike wall time, is not stretched by other load.
"""

from __future__ import annotations

import asyncio
import os
import resource
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.infra.kafka_auth import auth_mode, kafka_security

TICKS = os.sysconf("SC_CLK_TCK")
RECORD = b"x" * 400  # about an event envelope's size


def broker_cpu() -> float:
    """utime + stime of the local broker (its pid file under .run/<INFRA_NAME>/)."""
    pid = (Path(__file__).resolve().parents[2] / ".run" / os.environ.get("INFRA_NAME", "dev") / "kafka.pid").read_text()
    fields = Path(f"/proc/{pid.strip()}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def connect_seconds(bootstrap: str, times: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(times):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **kafka_security())
        await producer.start()
        await producer.stop()
    return (time.perf_counter() - started) / times


async def main(count: int) -> None:
    bootstrap = os.environ["KAFKA_BOOTSTRAP"]
    topic = f"bench-auth-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **kafka_security())
    await admin.start()
    await admin.create_topics([NewTopic(topic, 1, int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1")))])
    try:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, **kafka_security())
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **kafka_security())
        await producer.start()
        await consumer.start()
        broker0, own0, wall0 = broker_cpu(), own_cpu(), time.perf_counter()
        await asyncio.gather(*[await producer.send(topic, RECORD) for _ in range(count)])
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek(partition, 0)
        seen = 0
        while seen < count:
            seen += sum(len(r) for r in (await consumer.getmany(timeout_ms=500)).values())
        broker1, own1, wall1 = broker_cpu(), own_cpu(), time.perf_counter()
        await producer.stop()
        await consumer.stop()
        per = 10_000 / count
        print(
            f"KAFKA_AUTH={auth_mode()}: {count:,} records produced and consumed in {wall1 - wall0:.2f} s; "
            f"CPU per 10,000: broker {(broker1 - broker0) * per:.3f} s, client {(own1 - own0) * per:.3f} s; "
            f"connect {await connect_seconds(bootstrap) * 1000:.1f} ms"
        )
    finally:
        await admin.delete_topics([topic])
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
