"""Kafka clients and compression compared on this broker (issue 17: "a faster Kafka client under the same interface
if aiokafka itself is the limit (measure it against the raw ceiling first)" and "compression (lz4/zstd)").

Each case publishes the same records (the platform's own events, their keys, three headers as the relay's) to a fresh
topic of six partitions the way the relay does (idempotent, acks=all, a 2 ms linger, 128 KiB batches), then reads
them back from the beginning the way a consumer does (batches of up to 500). It reports, per record: the client
process's CPU (all its threads: librdkafka produces and fetches on threads of its own) and the broker's CPU, each as
microseconds per record, and the wall rate. The broker's CPU is read from /proc, so the instance's broker must be
local (deploy/local/infra.sh).

aiokafka is always measured; confluent-kafka (librdkafka) and the compressions only where their packages import:
neither is a dependency of the project. To measure them, install them beside it, outside the virtualenv:

    pip install --target /tmp/kafka-clients confluent-kafka cramjam
    source .run/dev/env && PYTHONPATH=/tmp/kafka-clients KAFKA_PRINCIPAL=admin \\
        python -m deploy.bench.kafka_clients --records 100000

It prints its table and does not append to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from deploy.bench.audit_history import generate
from deploy.bench.common import ROOT
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import LOAD_GENERATOR_CLIENT
from shared.infra.topics_admin import ensure_topics
from shared.topics import Topic

PARTITIONS = 6
BATCH = 500  # records a consumer takes at once (ConsumerRunner.max_batch)
HEADERS = [("seal", b"k1:" + b"s" * 32), ("chain", b"issuance"), ("chain.seq", b"123456")]


@dataclass(frozen=True)
class Records:
    keys: list[bytes]
    values: list[bytes]

    @staticmethod
    def made(count: int) -> Records:
        """The platform's own events, as its services decide them for generated orders (deploy/bench/audit_history.py):
        their sizes and how well they compress are the real ones. Repeated to `count` if the history is shorter."""
        history = generate(max(1, count // 10), merchants=50)
        events = [e for service in history.events.values() for e in service]
        picked = [events[n % len(events)] for n in range(count)]
        return Records([e.key.encode() for e in picked], [e.value for e in picked])

    @property
    def mean_bytes(self) -> float:
        return sum(len(v) for v in self.values) / len(self.values)


@dataclass(frozen=True)
class Measured:
    seconds: float
    client_cpu: float
    broker_cpu: float


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def broker_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measured(pid: int, step: Callable[[], Awaitable[None]]) -> Measured:
    cpu, broker, started = cpu_seconds(), broker_cpu(pid), time.perf_counter()
    await step()
    return Measured(time.perf_counter() - started, cpu_seconds() - cpu, broker_cpu(pid) - broker)


async def aiokafka_produce(bootstrap: str, topic: str, records: Records, compression: str | None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, client_id=LOAD_GENERATOR_CLIENT, enable_idempotence=True,
                                acks="all", linger_ms=2, max_batch_size=128 * 1024, compression_type=compression,
                                **kafka_security())  # fmt: skip
    await producer.start()
    try:
        for start in range(0, len(records.values), BATCH):
            sent = [await producer.send(topic, v, key=k, headers=HEADERS)
                    for k, v in zip(records.keys[start:start + BATCH], records.values[start:start + BATCH], strict=True)]  # fmt: skip
            await asyncio.gather(*sent)
    finally:
        await producer.stop()


async def aiokafka_consume(bootstrap: str, topic: str, count: int) -> None:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-{uuid.uuid4().hex}",
                                client_id=LOAD_GENERATOR_CLIENT, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_poll_records=BATCH, **kafka_security())  # fmt: skip
    await consumer.start()
    try:
        seen = 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=BATCH)
            seen += sum(len(records) for records in batch.values())
    finally:
        await consumer.stop()


def confluent_config(bootstrap: str) -> dict[str, object]:
    security = kafka_security()
    config: dict[str, object] = {"bootstrap.servers": bootstrap, "client.id": LOAD_GENERATOR_CLIENT}
    if "sasl_mechanism" in security:
        config |= {"security.protocol": security["security_protocol"], "sasl.mechanism": security["sasl_mechanism"],
                   "sasl.username": security["sasl_plain_username"],
                   "sasl.password": security["sasl_plain_password"]}  # fmt: skip
    if "ssl_context" in security:
        raise SystemExit(
            "kafka_clients: a TLS broker is not supported here (librdkafka takes a CA file, not a context)"
        )
    return config


async def confluent_produce(bootstrap: str, topic: str, records: Records, compression: str | None) -> None:
    from confluent_kafka import Producer  # type: ignore[import-not-found]  # not a dependency (module docstring)

    producer = Producer(confluent_config(bootstrap) | {"enable.idempotence": True, "acks": "all", "linger.ms": 2,
                                                       "batch.size": 128 * 1024,
                                                       "compression.type": compression or "none"})  # fmt: skip
    failed: list[object] = []

    def delivered(error: object, _message: object) -> None:
        if error is not None:
            failed.append(error)

    for n, (key, value) in enumerate(zip(records.keys, records.values, strict=True)):
        while True:
            try:
                producer.produce(topic, value, key, headers=HEADERS, on_delivery=delivered)
                break
            except BufferError:  # its queue is full: let it send, as the relay waits on aiokafka's sends
                producer.poll(0.01)
        if n % BATCH == 0:
            producer.poll(0)
    producer.flush()
    if failed:
        raise RuntimeError(f"confluent-kafka: {len(failed)} records not delivered, first: {failed[0]}")


async def confluent_consume(bootstrap: str, topic: str, count: int) -> None:
    from confluent_kafka import Consumer

    consumer = Consumer(confluent_config(bootstrap) | {"group.id": f"bench-{uuid.uuid4().hex}",
                                                       "auto.offset.reset": "earliest",
                                                       "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])
    try:
        seen = 0
        while seen < count:
            seen += sum(1 for m in consumer.consume(num_messages=BATCH, timeout=1.0) if m.error() is None)
    finally:
        consumer.close()


CLIENTS = {"aiokafka": (aiokafka_produce, aiokafka_consume), "confluent-kafka": (confluent_produce, confluent_consume)}


def available_clients() -> list[str]:
    return ["aiokafka"] + (["confluent-kafka"] if importlib.util.find_spec("confluent_kafka") else [])


def available_compressions() -> list[str | None]:
    """None (no compression) always; lz4 and zstd where aiokafka can (its codecs come from cramjam)."""
    return [None] + (["lz4", "zstd"] if importlib.util.find_spec("cramjam") else [])


async def run(records: int) -> None:
    bootstrap = os.environ["KAFKA_BOOTSTRAP"]
    instance = os.environ.get("INFRA_NAME", "dev")
    pid = int((ROOT / ".run" / instance / "kafka.pid").read_text())
    made = Records.made(records)
    print(
        f"{records:,} events of {made.mean_bytes:,.0f} bytes on average, {PARTITIONS} partitions; CPU in µs per record"
    )
    print(f"{'client':<16} {'compression':<12} {'produce/s':>10} {'client':>7} {'broker':>7}   "
          f"{'consume/s':>10} {'client':>7} {'broker':>7}")  # fmt: skip
    for name in available_clients():
        produce, consume = CLIENTS[name]
        for compression in available_compressions():
            topic = f"bench-clients-{uuid.uuid4().hex[:8]}"
            await ensure_topics(bootstrap, (Topic(topic, PARTITIONS, 3_600_000, False, "merchant id", "benchmark"),))
            out = await measured(pid, lambda: produce(bootstrap, topic, made, compression))  # noqa: B023
            back = await measured(pid, lambda: consume(bootstrap, topic, records))  # noqa: B023
            print(f"{name:<16} {compression or 'none':<12} "
                  f"{records / out.seconds:>10,.0f} {out.client_cpu / records * 1e6:>7.1f} "
                  f"{out.broker_cpu / records * 1e6:>7.1f}   "
                  f"{records / back.seconds:>10,.0f} {back.client_cpu / records * 1e6:>7.1f} "
                  f"{back.broker_cpu / records * 1e6:>7.1f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    asyncio.run(run(parser.parse_args().records))


if __name__ == "__main__":
    main()
