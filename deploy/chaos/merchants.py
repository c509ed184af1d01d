"""The run's own sandbox merchants (fresh ids, so their tickets, clocks and ledger are the run's alone), each with
a NT$500 pickup voucher product and keys registered for the sandbox merchant client."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime

from pydantic import SecretStr

from shared.admin.publish import put_merchants, put_products
from shared.contracts.catalog import Product
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.merchants.model import MerchantRecord, Mode
from shared.merchants.sealing import MerchantSecrets, seal
from shared.sandbox.aio import AIO_IV, AIO_KEY
from shared.sandbox.merchant import KEYS
from shared.settings import Settings

ITEM = "PU000500"
FACE = 500


async def register(settings: Settings, count: int) -> list[str]:
    """`count` new sandbox merchants (90 days of escrow, 10% refund fee); their ids. Random, not from the seed: a
    second run with the same seed on the same instance must not meet the first run's merchants."""
    rng = random.SystemRandom()
    now = datetime.now(UTC)
    records, products, ids = [], [], []
    for _ in range(count):
        merchant_id = "8" + "".join(rng.choice(string.digits) for _ in range(9))
        key, iv = (_token(rng) for _ in range(2))
        secrets = MerchantSecrets(ticket_hash_key=SecretStr(key), ticket_hash_iv=SecretStr(iv),
                                  payment_hash_key=SecretStr(AIO_KEY), payment_hash_iv=SecretStr(AIO_IV))  # fmt: skip
        KEYS[merchant_id] = (key, iv)
        records.append(MerchantRecord(
            merchant_id=merchant_id, name=f"chaos merchant {merchant_id}", mode=Mode.SANDBOX, escrow_days=90,
            refund_fee_rule=RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000),
            secrets=seal(secrets, merchant_id, settings.config_key_hex), updated_at=now,
        ))  # fmt: skip
        products.append(Product(merchant_id=merchant_id, item_no=ITEM, name="Tea", ticket_type=TicketType.PICKUP,
                                face_value=FACE, updated_at=now))  # fmt: skip
        ids.append(merchant_id)
    await put_merchants(settings.kafka_bootstrap, records)
    await put_products(settings.kafka_bootstrap, products)
    return ids


def _token(rng: random.SystemRandom) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(16))
