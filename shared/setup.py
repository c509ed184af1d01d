"""`python -m shared.setup [--seed]`: create the topic catalog and (optionally) publish the dev seed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

from shared.access import ACCESS, sender_principal
from shared.admin.merchant_access import connect
from shared.admin.publish import put_merchants, put_products
from shared.admin.seed import dev_merchants, dev_products
from shared.infra.acls import apply_acls
from shared.infra.kafka_auth import auth_mode
from shared.infra.quotas import apply_quotas, platform_quotas, unidentified_rate
from shared.infra.topics_admin import ensure_topics
from shared.settings import Settings


async def setup(settings: Settings, seed: bool) -> None:
    created = await ensure_topics(settings.kafka_bootstrap)
    print(f"topics: {len(created)} created" + (f" ({', '.join(created)})" if created else ""))
    if auth_mode() == "scram":
        granted = await apply_acls(settings.kafka_bootstrap)
        print(f"acls: {granted} grants to {len(ACCESS)} principals (shared/access.py)")
    unidentified = unidentified_rate()
    await apply_quotas(settings.kafka_bootstrap, platform_quotas(unidentified))
    print(
        f"quotas: unidentified producers {unidentified:,} bytes/s"
        if unidentified
        else "quotas: none for unidentified producers"
    )
    if seed:
        merchants = dev_merchants(settings.config_key_hex)
        await put_merchants(settings.kafka_bootstrap, merchants)
        products = dev_products()
        await put_products(settings.kafka_bootstrap, products)
        print(f"seed: {len(merchants)} merchants, {len(products)} products")
        folder = os.environ.get("KAFKA_CREDENTIALS_DIR")
        if auth_mode() == "scram" and folder:
            await connect_seeded(settings.kafka_bootstrap, [m.merchant_id for m in merchants], Path(folder))
            print(f"seed: {len(merchants)} merchants connected (merchant-connect), their Kafka passwords in {folder}")


async def connect_seeded(bootstrap: str, merchant_ids: list[str], folder: Path) -> None:
    """Each sandbox merchant's own topic and principal (shared/admin/merchant_access.py), its password kept beside
    the platform's in the instance's credentials folder, so docs/integrating.md's script can act as a merchant on
    `make run`'s platform. Only for the seed: a real merchant's password is handed to it once and kept nowhere."""
    for merchant_id in merchant_ids:
        password = await connect(bootstrap, merchant_id)
        path = folder / sender_principal(merchant_id)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(f"{password}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", action="store_true", help="publish the development merchants and products")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(setup(Settings.from_env(), args.seed))


if __name__ == "__main__":
    main()
