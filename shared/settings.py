"""Process settings from the environment (the local scripts and docker-compose set them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str
    database_url: str
    # Key-encryption key that seals merchant secrets on the config topic (32 bytes, hex).
    config_key_hex: str

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP", "127.0.0.1:19092"),
            database_url=os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:15432/ecticket"),
            config_key_hex=os.environ.get("ECTICKET_CONFIG_KEY", DEV_CONFIG_KEY),
        )


# Development-only key; production deployments must set ECTICKET_CONFIG_KEY from a secret store.
DEV_CONFIG_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


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
