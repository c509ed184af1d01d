"""`python -m shared.setup [--seed]`: create the topic catalog and (optionally) publish the dev seed."""

from __future__ import annotations

import argparse
import asyncio
import logging

from shared.access import ACCESS
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", action="store_true", help="publish the development merchants and products")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(setup(Settings.from_env(), args.seed))


if __name__ == "__main__":
    main()
