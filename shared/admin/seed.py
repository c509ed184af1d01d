"""Development seed: the official ECTicket test merchant, a platform with a sub-merchant, and products."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import SecretStr

from shared.contracts.catalog import Product, UsagePeriodRule
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.merchants.model import IssueReply, MerchantRecord, Mode
from shared.merchants.sealing import MerchantSecrets, seal

# Official ECTicket test merchant (docs p=32235) with the AIO stage payment keys.
TEST_MERCHANT = "3085676"
PLATFORM = "3085672"
SUB_MERCHANT = "3362787"
OTHER_MERCHANT = "2000132"


def _record(
    merchant_id: str, name: str, keys: tuple[str, str, str, str], config_key_hex: str, **extra: object
) -> MerchantRecord:
    secrets = MerchantSecrets(
        ticket_hash_key=SecretStr(keys[0]),
        ticket_hash_iv=SecretStr(keys[1]),
        payment_hash_key=SecretStr(keys[2]),
        payment_hash_iv=SecretStr(keys[3]),
    )
    return MerchantRecord.model_validate(
        {
            "merchant_id": merchant_id,
            "name": name,
            "mode": Mode.SANDBOX,
            "secrets": seal(secrets, merchant_id, config_key_hex),
            "updated_at": datetime.now(UTC),
            **extra,
        }
    )


def dev_merchants(config_key_hex: str) -> list[MerchantRecord]:
    aio = ("pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs")
    return [
        _record(
            TEST_MERCHANT,
            "ECTicket test merchant",
            ("7b53896b742849d3", "37a0ad3c6ffa428b", *aio),
            config_key_hex,
            escrow_days=90,
            refund_fee_rule=RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000),
            # Opted in to the outcome reply (Issue answered with its tickets) and to printing paper tickets; the
            # platform and its sub-merchant keep ECTicket's defaults (Issue answered at once with Status 3).
            issue_reply=IssueReply.OUTCOME,
            prints_paper=True,
        ),
        _record(PLATFORM, "Test platform", ("b15bd8514fed472c", "9c8458263def47cd", *aio), config_key_hex),
        _record(
            SUB_MERCHANT,
            "Platform sub-merchant",
            ("c539115ea7674f20", "86f625e60cb1473a", *aio),
            config_key_hex,
            platform_id=PLATFORM,
            refund_fee_rule=RefundFeeRule(kind=FeeKind.FIXED, amount=30),
        ),
        _record(
            OTHER_MERCHANT,
            "Unrelated merchant",
            ("ejCk326UnaZWKisg", "q9jcZX8Ib9LM8wYk", *aio),
            config_key_hex,
        ),
    ]


def dev_products() -> list[Product]:
    now = datetime.now(UTC)
    rows: list[tuple[str, str, str, TicketType, int, UsagePeriodRule, bool]] = [
        (TEST_MERCHANT, "PU000500", "Afternoon tea set", TicketType.PICKUP, 500, UsagePeriodRule(), True),
        (
            TEST_MERCHANT,
            "PU001200",
            "Hotel breakfast for two",
            TicketType.PICKUP,
            1200,
            UsagePeriodRule(),
            True,
        ),
        (TEST_MERCHANT, "GF000030", "Free dessert", TicketType.GIFT, 0, UsagePeriodRule(valid_days=30), True),
        (TEST_MERCHANT, "PUOLD001", "Retired voucher", TicketType.PICKUP, 300, UsagePeriodRule(), False),
        (SUB_MERCHANT, "PU000800", "Spa session", TicketType.PICKUP, 800, UsagePeriodRule(), True),
        (SUB_MERCHANT, "GF000007", "Welcome drink", TicketType.GIFT, 0, UsagePeriodRule(valid_days=7), True),
        (OTHER_MERCHANT, "PU000100", "Coffee", TicketType.PICKUP, 100, UsagePeriodRule(), True),
    ]
    return [
        Product(
            merchant_id=m,
            item_no=no,
            name=name,
            ticket_type=kind,
            face_value=face,
            usage=usage,
            listed=listed,
            updated_at=now,
        )
        for m, no, name, kind, face, usage, listed in rows
    ]
