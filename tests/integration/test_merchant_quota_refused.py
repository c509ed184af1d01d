"""A merchant whose produce rate the broker cannot keep is refused whole: neither its record nor its quota changes.

Found by the admin CLI fuzz campaign: `merchant-put --produce-bytes-per-second 10**30` published the merchant, then
the broker refused the quota ("too large for a LONG") and the command ended in a traceback."""

from __future__ import annotations

import asyncio
import os
import sys
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest

from deploy.fuzz.cli_campaign import operator_environment
from shared.admin.publish import put_merchants
from shared.infra.compacted import CompactedView
from shared.infra.quotas import QuotaRefused, merchant_client_id, produce_quotas
from shared.merchants.model import MerchantRecord
from shared.settings import Settings
from shared.topics import MERCHANT_CONFIG
from tests.support.merchants import fresh_merchant

ROOT = Path(__file__).resolve().parents[2]
TOO_FAST = 10**30  # bytes/s: more than a LONG


async def test_a_record_whose_quota_the_broker_refuses_is_not_published(infra: Settings) -> None:
    merchant_id = await fresh_merchant(infra)
    record = await published(infra, merchant_id)
    unvalidated = record.model_copy(update={"produce_bytes_per_second": TOO_FAST})

    with pytest.raises(QuotaRefused):
        await put_merchants(infra.kafka_bootstrap, [unvalidated])

    assert await published(infra, merchant_id) == record
    quotas = await produce_quotas(infra.kafka_bootstrap)
    assert quotas[merchant_client_id(merchant_id)] == record.produce_bytes_per_second


async def test_the_cli_refuses_a_rate_above_a_tebibyte_a_second_with_a_message_and_publishes_nothing(
    infra: Settings,
) -> None:
    merchant_id = await fresh_merchant(infra)
    record = await published(infra, merchant_id)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.admin", "merchant-put", "--merchant-id", merchant_id, "--name", "Shop",
        "--produce-bytes-per-second", str(TOO_FAST),
        stdout=PIPE, stderr=PIPE, cwd=ROOT, env={**os.environ, **operator_environment()},
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 2, (out, err)
    assert err.decode().startswith("invalid: 1 validation error for MerchantRecord\nproduce_bytes_per_second\n")
    assert await published(infra, merchant_id) == record


async def published(settings: Settings, merchant_id: str) -> MerchantRecord:
    view = CompactedView(
        settings.kafka_bootstrap, MERCHANT_CONFIG, MerchantRecord.model_validate_json, only=frozenset({merchant_id})
    )
    await view.start()
    try:
        record = view.get(merchant_id)
    finally:
        await view.stop()
    assert record is not None
    return record
