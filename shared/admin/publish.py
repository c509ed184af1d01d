"""Publishing configuration records on their compacted topics (used by the CLI, the seed and tests)."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from pydantic import BaseModel

from shared.access import sender_principal
from shared.contracts.catalog import Product
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import ADMIN_CLIENT, CLIENT, USER, Quota, apply_quotas, merchant_client_id
from shared.infra.seal import sealed_headers
from shared.merchants.model import MerchantRecord
from shared.topics import MERCHANT_CONFIG, PRODUCT_CATALOG


async def publish_records(bootstrap: str, topic: str, records: Sequence[tuple[str, BaseModel | None]]) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, client_id=ADMIN_CLIENT, enable_idempotence=True, acks="all", **kafka_security()
    )
    await producer.start()
    try:
        for key, record in records:
            value = None if record is None else record.model_dump_json().encode()
            # Sealed like every platform record (shared/infra/seal.py), a tombstone too (a forged one would delete a
            # merchant): the compacted views skip a record without the seal (shared/infra/compacted.py).
            headers = sealed_headers(topic, key.encode(), value or b"")
            await producer.send_and_wait(topic, value, key=key.encode(), headers=headers)
    finally:
        await producer.stop()


async def put_merchants(bootstrap: str, records: Sequence[MerchantRecord]) -> None:
    """Sets each merchant's produce quota on the broker, then publishes the records: a quota the broker refuses
    leaves the record unpublished (the other way round, a refused quota left a published merchant without it)."""
    await apply_quotas(bootstrap, merchant_quotas(records))
    await publish_records(bootstrap, MERCHANT_CONFIG, [(r.merchant_id, r) for r in records])


def merchant_quotas(records: Sequence[MerchantRecord]) -> list[Quota]:
    """Each merchant's rate on its client id and on its own principal (which the broker applies first, and which a
    sender cannot choose; set before the principal exists, so a door is never open without its quota)."""
    return [
        Quota(name, r.produce_bytes_per_second, entity, r.request_percentage)
        for r in records
        for name, entity in ((merchant_client_id(r.merchant_id), CLIENT), (sender_principal(r.merchant_id), USER))
    ]


async def put_products(bootstrap: str, products: Sequence[Product]) -> None:
    await publish_records(bootstrap, PRODUCT_CATALOG, [(p.key(), p) for p in products])
