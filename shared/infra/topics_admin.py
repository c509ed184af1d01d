"""Creates the catalog's topics (and fixes their configs) on a broker; idempotent."""

from __future__ import annotations

import asyncio
import os

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared.infra.kafka_auth import kafka_security
from shared.topics import CATALOG, Topic


async def ensure_topics(bootstrap: str, catalog: tuple[Topic, ...] = CATALOG) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ecticket-setup", **kafka_security())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in catalog if t.name not in existing]
        if missing:
            copies = replication_factor()
            await admin.create_topics(
                [NewTopic(t.name, t.partitions, copies, topic_configs=t.config()) for t in missing]
            )
        await _wait_until_listed(admin, {t.name for t in catalog})
        return [t.name for t in missing]
    finally:
        await admin.close()


def replication_factor() -> int:
    """KAFKA_REPLICATION_FACTOR: 1 on a single broker, 3 on the three-node cluster (deploy/local/infra.sh, with
    min.insync.replicas 2 broker-wide: a write acknowledged by acks=all survives the loss of any one broker)."""
    return int(os.environ.get("KAFKA_REPLICATION_FACTOR", "1"))


async def _wait_until_listed(admin: AIOKafkaAdminClient, names: set[str]) -> None:
    for _ in range(100):
        if names <= set(await admin.list_topics()):
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"topics not visible after creation: {sorted(names)}")


async def partitions_of(bootstrap: str, topics: list[str]) -> dict[str, list[int]]:
    """Partition numbers per topic, from the broker (a consumer's metadata cache only knows subscribed topics)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="ecticket-describe", **kafka_security())
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    found = {d["topic"]: sorted(p["partition"] for p in d["partitions"]) for d in described if not d["error_code"]}
    missing = [t for t in topics if not found.get(t)]
    if missing:
        raise RuntimeError(f"topics missing: {missing}; run `python -m shared.setup`")
    return found
