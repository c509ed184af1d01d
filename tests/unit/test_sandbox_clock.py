"""Sandbox test clocks: a merchant's offset moves its time only while the merchant is in sandbox mode."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

import pytest
from pydantic import SecretStr

from shared.clock import SystemClock
from shared.infra.sandbox_clocks import ClockOffset, SandboxClocks
from shared.merchants.model import Merchant, MerchantRecord, Mode
from shared.merchants.sealing import MerchantSecrets, seal
from shared.settings import DEV_CONFIG_KEY

pytestmark = pytest.mark.unit

T = TypeVar("T")
NOW = datetime(2024, 6, 10, tzinfo=UTC)


class Records(Generic[T]):
    def __init__(self, items: dict[str, T]) -> None:
        self.items = items

    def get(self, key: str) -> T | None:
        return self.items.get(key)

    def values(self) -> Sequence[T]:
        return list(self.items.values())


def _merchant(merchant_id: str, mode: Mode) -> Merchant:
    secrets = MerchantSecrets(
        ticket_hash_key=SecretStr("k" * 16),
        ticket_hash_iv=SecretStr("i" * 16),
        payment_hash_key=SecretStr("p" * 16),
        payment_hash_iv=SecretStr("q" * 16),
    )
    record = MerchantRecord(
        merchant_id=merchant_id, name=merchant_id, mode=mode, secrets=seal(secrets, merchant_id, DEV_CONFIG_KEY),
        updated_at=NOW,
    )  # fmt: skip
    return Merchant(record, secrets)


def _offset(merchant_id: str, days: int) -> ClockOffset:
    return ClockOffset(merchant_id=merchant_id, offset_seconds=days * 86_400, updated_at=NOW)


CLOCKS = SandboxClocks(
    Records({m: _offset(m, 91) for m in ("SANDBOX", "PROD", "GONE")} | {"RESET": _offset("RESET", 0)}),
    Records({"SANDBOX": _merchant("SANDBOX", Mode.SANDBOX), "PROD": _merchant("PROD", Mode.PRODUCTION),
             "RESET": _merchant("RESET", Mode.SANDBOX), "PLAIN": _merchant("PLAIN", Mode.SANDBOX)}),
)  # fmt: skip


def test_only_a_sandbox_merchant_with_a_test_clock_runs_ahead() -> None:
    assert CLOCKS.offset("SANDBOX") == timedelta(days=91)
    assert [CLOCKS.offset(m) for m in ("PROD", "GONE", "RESET", "PLAIN")] == [timedelta(0)] * 4
    assert CLOCKS.shifted() == {"SANDBOX": timedelta(days=91)}


def test_the_system_clock_shifts_a_merchants_time_by_its_offset_and_nothing_else() -> None:
    clock = SystemClock(offsets=CLOCKS.offset)
    real = clock.now()
    shifted = clock.now("SANDBOX") - clock.now()
    assert timedelta(days=91) - timedelta(seconds=1) < shifted <= timedelta(days=91)
    assert abs(clock.now("PROD") - real) < timedelta(seconds=1)
