"""What the pure tests of the edge share: a fixed clock, the dev catalogue and merchant, raw records, and Data
sealed with valid keys (so what is tested is the content, not the envelope)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared.admin.seed import TEST_MERCHANT, dev_merchants, dev_products
from shared.ecticket.crypto import check_mac_value, encrypt_data
from shared.ecticket.envelope import EnvelopeFailure, OpenedData, RequestEnvelope, RequestHeader, open_request
from shared.infra.messages import Inbound
from shared.merchants.model import Merchant, merchant_parser
from shared.settings import DEV_CONFIG_KEY

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
TODAY = date(2026, 11, 26)
KEY, IV = "k" * 16, "i" * 16
CATALOGUE = {p.item_no: p for p in dev_products() if p.merchant_id == TEST_MERCHANT}


def seeded_merchant() -> Merchant:
    found = next(r for r in dev_merchants(DEV_CONFIG_KEY) if r.merchant_id == TEST_MERCHANT)
    return merchant_parser(DEV_CONFIG_KEY)(found.model_dump_json().encode())


def record(value: bytes, topic: str = "ecticket.ingest.payments.v1") -> Inbound:
    return Inbound(topic=topic, partition=0, offset=0, key=None, value=value, timestamp_ms=0)


def opened(plaintext: str) -> OpenedData | EnvelopeFailure:
    """Decrypted Data exactly as given, sealed with valid keys and checksum (the caller is authenticated)."""
    envelope = RequestEnvelope(
        merchant_id=TEST_MERCHANT,
        rq_header=RequestHeader(timestamp=1_800_000_000),
        data=encrypt_data(plaintext, KEY, IV),
        check_mac_value=check_mac_value(plaintext, KEY, IV),
    )
    return open_request(envelope, KEY, IV, 1_800_000_000)
