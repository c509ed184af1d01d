"""Key rotation: a merchant's HashKey/HashIV, and the platform's config key that seals them (docs/security.md).

    python -m shared.admin rotate-keys --merchant-id 3085676 --overlap-hours 72   # new keys from the environment
    python -m shared.admin reseal                                                 # every record under the current key

A merchant's rotation keeps its old keys accepted for `--overlap-hours` (requests sealed with them still open, and
are answered with them), so its systems switch over without a moment of failing requests. A config key rotation:
start every service with the new ECTICKET_CONFIG_KEY and the old one in ECTICKET_CONFIG_KEY_PREVIOUS (both open
records), run `reseal`, then drop the previous key.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from shared.admin.publish import put_merchants
from shared.infra.compacted import CompactedView
from shared.merchants.model import Merchant, MerchantRecord, merchant_parser
from shared.merchants.sealing import MerchantSecrets, seal
from shared.settings import Settings
from shared.topics import MERCHANT_CONFIG

SECRET_VARS = (
    "ECTICKET_TICKET_HASH_KEY",
    "ECTICKET_TICKET_HASH_IV",
    "ECTICKET_PAYMENT_HASH_KEY",
    "ECTICKET_PAYMENT_HASH_IV",
)


def secrets_from_env() -> MerchantSecrets:
    missing = [v for v in SECRET_VARS if not os.environ.get(v)]
    if missing:
        raise SystemExit(f"set {', '.join(missing)} in the environment")
    key, iv, pay_key, pay_iv = (SecretStr(os.environ[v]) for v in SECRET_VARS)
    return MerchantSecrets(ticket_hash_key=key, ticket_hash_iv=iv, payment_hash_key=pay_key, payment_hash_iv=pay_iv)


async def merchants_in_directory(settings: Settings, only: frozenset[str] | None = None) -> list[Merchant]:
    """Every merchant, or those of `only`."""
    parse = merchant_parser(settings.config_key_hex, *settings.previous_config_keys_hex)
    view = CompactedView(settings.kafka_bootstrap, MERCHANT_CONFIG, parse, only=only)
    await view.start()
    try:
        return list(view.values())
    finally:
        await view.stop()


def rotated(
    merchant: Merchant, new: MerchantSecrets, overlap: timedelta, config_key_hex: str, now: datetime
) -> MerchantRecord:
    """The record with `new` keys, and the current ones accepted until now + overlap."""
    merchant_id = merchant.merchant_id
    return merchant.record.model_copy(
        update={
            "secrets": seal(new, merchant_id, config_key_hex),
            "previous_secrets": seal(merchant.secrets, merchant_id, config_key_hex),
            "previous_secrets_until": now + overlap,
            "updated_at": now,
        }
    )


def resealed(merchant: Merchant, config_key_hex: str, now: datetime) -> MerchantRecord:
    """The same record, its secrets sealed again under the current config key."""
    merchant_id, previous = merchant.merchant_id, merchant.previous_secrets
    return merchant.record.model_copy(
        update={
            "secrets": seal(merchant.secrets, merchant_id, config_key_hex),
            "previous_secrets": seal(previous, merchant_id, config_key_hex) if previous else None,
            "updated_at": now,
        }
    )


async def rotate_keys(settings: Settings, args: argparse.Namespace) -> None:
    found = await merchants_in_directory(settings, only=frozenset({args.merchant_id}))
    if not found:
        raise SystemExit(f"merchant {args.merchant_id} is not registered")
    now = datetime.now(UTC)
    record = rotated(found[0], secrets_from_env(), timedelta(hours=args.overlap_hours), settings.config_key_hex, now)
    await put_merchants(settings.kafka_bootstrap, [record])
    print(
        f"merchant {args.merchant_id}: new keys in force; the old ones accepted until {record.previous_secrets_until}"
    )


async def reseal(settings: Settings, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    records = [resealed(m, settings.config_key_hex, now) for m in await merchants_in_directory(settings)]
    await put_merchants(settings.kafka_bootstrap, records)
    print(f"{len(records)} merchant records sealed again under the current config key")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("rotate-keys", help="give a merchant new HashKey/HashIV, the old ones accepted for a while")
    r.add_argument("--merchant-id", required=True)
    r.add_argument("--overlap-hours", type=float, default=72.0)
    r.set_defaults(run=rotate_keys)
    s = sub.add_parser("reseal", help="seal every merchant's secrets again under the current config key")
    s.set_defaults(run=reseal)
