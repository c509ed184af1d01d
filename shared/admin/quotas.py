"""`quotas show` and `quotas apply`: the broker's produce quotas (shared/infra/quotas.py, docs/security.md)."""

from __future__ import annotations

import argparse

from shared.admin.publish import merchant_quotas
from shared.infra.compacted import CompactedView
from shared.infra.quotas import (
    CLIENT,
    EXEMPT,
    REQUEST_SHARE,
    USER,
    apply_quotas,
    platform_quotas,
    produce_quotas,
    unidentified_rate,
)
from shared.merchants.model import MerchantRecord
from shared.settings import Settings
from shared.topics import MERCHANT_CONFIG


async def show(settings: Settings, args: argparse.Namespace) -> None:
    for entity in (CLIENT, USER):  # a user's quota (a merchant's own principal) comes before any client id's
        quotas = await produce_quotas(settings.kafka_bootstrap, entity)
        shares = await produce_quotas(settings.kafka_bootstrap, entity, REQUEST_SHARE)
        for name, rate in sorted(quotas.items(), key=lambda item: item[0] or ""):
            shown = "exempt" if rate >= EXEMPT else f"{rate:,.0f} bytes/s"
            share = f", {shares[name]:g} % of a request thread" if name in shares else ""
            print(f"{entity:<10} {name or '(unidentified: the default)':<40} {shown}{share}")


async def apply(settings: Settings, args: argparse.Namespace) -> None:
    """The platform's quotas and every merchant's, from the directory: after a change of ECTICKET_QUOTA_UNIDENTIFIED
    or on a new broker cluster (merchant-put sets a merchant's own at once)."""
    # The records as published, unsealed or not: a quota needs no keys.
    view = CompactedView(settings.kafka_bootstrap, MERCHANT_CONFIG, MerchantRecord.model_validate_json)
    await view.start()
    try:
        records = list(view.values())
    finally:
        await view.stop()
    await apply_quotas(settings.kafka_bootstrap, platform_quotas(unidentified_rate()) + merchant_quotas(records))
    print(f"quotas applied: the platform's producers, unidentified producers, {len(records)} merchants")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    q = sub.add_parser("quotas", help="the broker's produce quotas: show them, or apply them from configuration")
    q.add_argument("action", choices=["show", "apply"])
    q.set_defaults(run=lambda settings, args: (show if args.action == "show" else apply)(settings, args))
