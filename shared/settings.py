"""Process settings from the environment (the local scripts and docker-compose set them)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import time

# Development-only platform event key (key id "dev"); production sets ECTICKET_EVENT_KEYS from a secret store.
DEV_EVENT_KEY_HEX = "5ea15ea15ea15ea1000000000000000000000000000000005ea15ea15ea15ea1"
DEV_EVENT_KEYS = f"dev:{DEV_EVENT_KEY_HEX}"


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str
    database_url: str
    # Key-encryption key that seals merchant secrets on the config topic (32 bytes, hex).
    config_key_hex: str
    # The platform's Ed25519 key that signs the event chain's checkpoints (32-byte seed, hex), and its id, which
    # every checkpoint names so auditors pick the published public key (docs/audit.md). Never printed.
    audit_signing_key_hex: str = field(default="", repr=False)
    audit_key_id: str = "dev"
    # Config keys still accepted for opening merchant secrets during a rotation (ECTICKET_CONFIG_KEY_PREVIOUS,
    # comma-separated); sealing always uses config_key_hex.
    previous_config_keys_hex: tuple[str, ...] = field(default=(), repr=False)
    # The platform's write-off code key (32 bytes, hex): WriteOffNo is kept and sent only as its keyed hash and its
    # ciphertext (shared/ecticket/write_off_codes.py, docs/security.md "Bearer codes"). Never printed.
    code_key_hex: str = field(default="", repr=False)
    # The platform event keys that seal every record the platform publishes for its consumers (shared/infra/seal.py,
    # docs/security.md "Provenance"): `<kid>:<64 hex>[,<kid>:<64 hex>...]`, the first seals, all verify. Never printed.
    event_keys: str = field(default=DEV_EVENT_KEYS, repr=False)

    @classmethod
    def from_env(cls) -> Settings:
        production = os.environ.get("ECTICKET_ENV", "development") == "production"
        return cls(
            kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
            database_url=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/ecticket"),
            config_key_hex=_key("ECTICKET_CONFIG_KEY", DEV_CONFIG_KEY, production),
            audit_signing_key_hex=_key("ECTICKET_AUDIT_SIGNING_KEY", DEV_AUDIT_SIGNING_KEY, production),
            audit_key_id=os.environ.get("ECTICKET_AUDIT_KEY_ID", "dev"),
            code_key_hex=_key("ECTICKET_CODE_KEY", DEV_CODE_KEY, production),
            event_keys=_event_keys(production),
            previous_config_keys_hex=tuple(
                k.strip() for k in os.environ.get("ECTICKET_CONFIG_KEY_PREVIOUS", "").split(",") if k.strip()
            ),
        )


class MissingSecret(RuntimeError):
    """ECTICKET_ENV=production without a key of its own: the built-in development keys are public."""


def _key(variable: str, development_default: str, production: bool) -> str:
    value = os.environ.get(variable, "")
    if production and (not value or value == development_default):
        raise MissingSecret(f"{variable} must be set (not the development key) when ECTICKET_ENV=production")
    return value or development_default


def _event_keys(production: bool) -> str:
    """ECTICKET_EVENT_KEYS; in production it must be set and must not list the development key (under any id)."""
    value = os.environ.get("ECTICKET_EVENT_KEYS", "")
    if production and (not value or DEV_EVENT_KEY_HEX in value.lower()):
        raise MissingSecret("ECTICKET_EVENT_KEYS must be set (not the development key) when ECTICKET_ENV=production")
    return value or DEV_EVENT_KEYS


# Development-only key; production deployments must set ECTICKET_CONFIG_KEY from a secret store.
DEV_CONFIG_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
# Development-only checkpoint key (key id "dev"); deploy/local/infra.sh generates one per instance, production sets
# ECTICKET_AUDIT_SIGNING_KEY and ECTICKET_AUDIT_KEY_ID from a secret store.
DEV_AUDIT_SIGNING_KEY = "a0d1e7c0ffee5eed0000000000000000000000000000000000000000000000de"
# Development-only write-off code key; production sets ECTICKET_CODE_KEY from a secret store.
DEV_CODE_KEY = "c0dec0dec0dec0de00000000000000000000000000000000c0dec0dec0dec0de"


def business_day_cutoff() -> time:
    """BUSINESS_DAY_CUTOFF (Asia/Taipei "HH:MM", default "00:00"): at or after it an instant belongs to the next
    business day. One value for the whole platform (redemption's cancel window, settlement's entry dates and payout
    runs), fixed for the life of a ledger. SETTLEMENT_CUTOFF is its older name, still read."""
    text = os.environ.get("BUSINESS_DAY_CUTOFF") or os.environ.get("SETTLEMENT_CUTOFF") or "00:00"
    try:
        cutoff = time.fromisoformat(text)
    except ValueError:
        raise ValueError(f"BUSINESS_DAY_CUTOFF must be HH:MM (Asia/Taipei), not {text!r}") from None
    if cutoff.second or cutoff.microsecond or cutoff.tzinfo is not None:
        raise ValueError(f"BUSINESS_DAY_CUTOFF must be HH:MM (Asia/Taipei), not {text!r}")
    return cutoff
