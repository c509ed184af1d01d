"""`python -m shared.admin seal-configuration`: seal the configuration records published before the seal existed.

The compacted views skip a configuration record without the platform's seal (shared/infra/compacted.py). Records
the admin CLI published before it sealed them would then vanish from every service (a merchant unknown, a product
unlisted). This republishes the current record of every key on the three configuration topics, byte for byte, now
sealed. It vouches for whatever the topics hold: review them first (`show merchants`, `show products`), and run it
once, at the cut-over (docs/operations.md, "Provenance letters").
"""

from __future__ import annotations

import argparse

from aiokafka import AIOKafkaProducer

from shared.infra.compacted import CompactedView
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import ADMIN_CLIENT
from shared.infra.seal import sealed_headers
from shared.settings import Settings
from shared.topics import MERCHANT_CONFIG, PRODUCT_CATALOG, TEST_CLOCKS

CONFIGURATION_TOPICS = (MERCHANT_CONFIG, PRODUCT_CATALOG, TEST_CLOCKS)


async def seal_configuration(settings: Settings, _args: argparse.Namespace) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=ADMIN_CLIENT,
        enable_idempotence=True,
        acks="all",
        **kafka_security(),
    )
    await producer.start()
    try:
        for topic in CONFIGURATION_TOPICS:
            view: CompactedView[bytes] = CompactedView(settings.kafka_bootstrap, topic, bytes, check_seals=False)
            await view.start()
            try:
                current = view.items()
            finally:
                await view.stop()
            for key, value in sorted(current.items()):
                await producer.send_and_wait(
                    topic, value, key=key.encode(), headers=sealed_headers(topic, key.encode(), value)
                )
            print(f"{topic}: {len(current)} records sealed")
    finally:
        await producer.stop()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser(
        "seal-configuration", help="seal the configuration records published before the seal (once, reviewed)"
    )
    r.set_defaults(run=seal_configuration)
