"""Moving a sandbox merchant's test clock (`clock-advance`, `clock-reset`); refused for production merchants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.admin.publish import publish_records
from shared.infra.compacted import CompactedView
from shared.infra.sandbox_clocks import ClockOffset
from shared.merchants.model import merchant_parser
from shared.settings import Settings
from shared.topics import MERCHANT_CONFIG, TEST_CLOCKS


class ClockRefused(Exception):
    """The clock of this merchant may not be moved (unknown merchant, production mode, or a backward move)."""


async def advance_clock(settings: Settings, merchant_id: str, by: timedelta) -> ClockOffset:
    """Move the merchant's clock `by` further ahead of real time; returns the new offset record.

    Read-modify-write of one compacted record: two admins advancing the same merchant at the same instant may
    lose one step. That is acceptable for a sandbox tool; production merchants are never touched.
    """
    if by <= timedelta(0):
        raise ClockRefused("a test clock only moves forward")
    await _require_sandbox(settings, merchant_id)
    offsets = CompactedView(
        settings.kafka_bootstrap, TEST_CLOCKS, ClockOffset.model_validate_json, only=frozenset({merchant_id})
    )
    try:
        await offsets.start()
        current = offsets.get(merchant_id)
    finally:
        await offsets.stop()
    already = current.offset_seconds if current is not None else 0
    record = ClockOffset(
        merchant_id=merchant_id,
        offset_seconds=already + int(by.total_seconds()),
        updated_at=datetime.now(UTC),
    )
    await publish_records(settings.kafka_bootstrap, TEST_CLOCKS, [(merchant_id, record)])
    return record


async def reset_clock(settings: Settings, merchant_id: str) -> None:
    """Back to real time (a tombstone). Always allowed: it can only undo a sandbox shift."""
    await publish_records(settings.kafka_bootstrap, TEST_CLOCKS, [(merchant_id, None)])


async def _require_sandbox(settings: Settings, merchant_id: str) -> None:
    merchants = CompactedView(
        settings.kafka_bootstrap,
        MERCHANT_CONFIG,
        merchant_parser(settings.config_key_hex, *settings.previous_config_keys_hex),
        only=frozenset({merchant_id}),
    )
    try:  # stopped even when its start fails (a broker outage): no consumer is left behind
        await merchants.start()
        merchant = merchants.get(merchant_id)
    finally:
        await merchants.stop()
    if merchant is None:
        raise ClockRefused(f"merchant {merchant_id} is not registered")
    if not merchant.sandbox:
        raise ClockRefused(f"merchant {merchant_id} is in {merchant.record.mode} mode: test clocks are sandbox-only")
