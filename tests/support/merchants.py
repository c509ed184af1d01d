"""Registering a fresh merchant for one test, so its test clock or its tickets cannot disturb other tests."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime

from pydantic import SecretStr

from shared.admin.publish import put_merchants, put_products
from shared.contracts.catalog import Product, UsagePeriodRule
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.merchants.model import IssueReply, Merchant, MerchantRecord, Mode
from shared.merchants.sealing import MerchantSecrets, seal
from shared.sandbox.aio import AIO_IV, AIO_KEY
from shared.sandbox.merchant import KEYS
from shared.settings import DEV_CONFIG_KEY, Settings

PICKUP, GIFT = "PU000500", "GF000030"  # NT$500 pickup voucher; gift voucher valid for 30 days
PICKUP_FACE = 500


def _token(length: int) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


async def fresh_merchant(
    settings: Settings,
    *,
    mode: Mode = Mode.SANDBOX,
    escrow_days: int = 90,
    issue_reply: IssueReply = IssueReply.ACCEPTED,
    prints_paper: bool = False,
    produce_bytes_per_second: int | None = None,
) -> str:
    """A new merchant (10% refund fee) with the products PICKUP and GIFT; its keys go into KEYS. Its options are
    ECTicket's defaults unless given."""
    merchant_id = "9" + "".join(secrets.choice(string.digits) for _ in range(9))
    key, iv = _token(16), _token(16)
    keys = MerchantSecrets(
        ticket_hash_key=SecretStr(key),
        ticket_hash_iv=SecretStr(iv),
        payment_hash_key=SecretStr(AIO_KEY),
        payment_hash_iv=SecretStr(AIO_IV),
    )
    now = datetime.now(UTC)
    record = MerchantRecord(
        merchant_id=merchant_id,
        name=f"test merchant {merchant_id}",
        mode=mode,
        escrow_days=escrow_days,
        issue_reply=issue_reply,
        prints_paper=prints_paper,
        **({} if produce_bytes_per_second is None else {"produce_bytes_per_second": produce_bytes_per_second}),
        refund_fee_rule=RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000),
        secrets=seal(keys, merchant_id, settings.config_key_hex),
        updated_at=now,
    )
    products = [
        Product(merchant_id=merchant_id, item_no=PICKUP, name="Tea", ticket_type=TicketType.PICKUP,
                face_value=PICKUP_FACE, updated_at=now),
        Product(merchant_id=merchant_id, item_no=GIFT, name="Dessert", ticket_type=TicketType.GIFT, face_value=0,
                usage=UsagePeriodRule(valid_days=30), updated_at=now),
    ]  # fmt: skip
    KEYS[merchant_id] = (key, iv)
    await put_merchants(settings.kafka_bootstrap, [record])
    await put_products(settings.kafka_bootstrap, products)
    return merchant_id


def sandbox_merchant(merchant_id: str, key: str, iv: str, *, platform_id: str | None = None) -> Merchant:
    """A sandbox merchant as a service's merchant directory holds it (its record and opened keys), for unit tests
    that authenticate requests without a broker."""
    secrets = MerchantSecrets(
        ticket_hash_key=SecretStr(key),
        ticket_hash_iv=SecretStr(iv),
        payment_hash_key=SecretStr("p" * 16),
        payment_hash_iv=SecretStr("q" * 16),
    )
    record = MerchantRecord(
        merchant_id=merchant_id, name=f"merchant {merchant_id}", mode=Mode.SANDBOX, platform_id=platform_id,
        secrets=seal(secrets, merchant_id, DEV_CONFIG_KEY), updated_at=datetime.now(UTC),
    )  # fmt: skip
    return Merchant(record, secrets)
