"""Key rotation: a merchant's new HashKey/HashIV with the old ones accepted for an overlap, and a new config key
with the old one still opening records until every record is sealed again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from shared.admin.keys import resealed, rotated
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.authentication import Caller, MerchantDirectory, Refusal
from shared.ecticket.envelope import seal_request
from shared.merchants.model import Merchant, MerchantRecord, Mode, merchant_parser
from shared.merchants.sealing import MerchantSecrets, seal
from shared.settings import DEV_AUDIT_SIGNING_KEY, DEV_CODE_KEY, DEV_CONFIG_KEY, MissingSecret, Settings
from shared.topics import INGEST_REQUESTS

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
MERCHANT_ID = "3085676"
OLD, NEW = ("7b53896b742849d3", "37a0ad3c6ffa428b"), ("a1b2c3d4e5f6a7b8", "c9d0e1f2a3b4c5d6")
NEW_CONFIG_KEY = "ff" * 32


def keys(pair: tuple[str, str]) -> MerchantSecrets:
    return MerchantSecrets(ticket_hash_key=SecretStr(pair[0]), ticket_hash_iv=SecretStr(pair[1]),
                           payment_hash_key=SecretStr("p" * 16), payment_hash_iv=SecretStr("q" * 16))  # fmt: skip


def merchant(config_key: str = DEV_CONFIG_KEY) -> Merchant:
    record = MerchantRecord(merchant_id=MERCHANT_ID, name="tea house", mode=Mode.PRODUCTION,
                            secrets=seal(keys(OLD), MERCHANT_ID, config_key), updated_at=NOW)  # fmt: skip
    return Merchant(record, keys(OLD))


def wire(record: MerchantRecord) -> bytes:
    return record.model_dump_json().encode()


class Directory:
    def __init__(self, record: MerchantRecord) -> None:
        self.merchant = merchant_parser(DEV_CONFIG_KEY)(wire(record))

    def get(self, key: str) -> Merchant | None:
        return self.merchant if key == MERCHANT_ID else None

    async def lookup(self, key: str) -> Merchant | None:
        return self.get(key)


def request(pair: tuple[str, str], at: datetime) -> dict[str, Any]:
    data = {"MerchantID": MERCHANT_ID, "WriteOffNo": "LEU4loiSZ9TDTWAtxL", "Action": "1", "Operator": "pos1"}
    wired: dict[str, Any] = json.loads(
        json.dumps(seal_request(data, MERCHANT_ID, None, *pair, int(at.timestamp())).to_wire())
    )
    return wired


async def test_during_the_overlap_both_keys_open_requests_and_the_answer_uses_the_keys_the_request_used() -> None:
    record = rotated(merchant(), keys(NEW), timedelta(hours=72), DEV_CONFIG_KEY, NOW)
    directory = MerchantDirectory(Directory(record))
    at = NOW + timedelta(hours=1)
    with_old = await directory.authenticate(request(OLD, at), int(at.timestamp()), topic=INGEST_REQUESTS)
    with_new = await directory.authenticate(request(NEW, at), int(at.timestamp()), topic=INGEST_REQUESTS)
    assert isinstance(with_old, Caller) and isinstance(with_new, Caller)
    assert with_old.signer.secrets.ticket_hash_key.get_secret_value() == OLD[0]
    assert with_new.signer.secrets.ticket_hash_key.get_secret_value() == NEW[0]


async def test_after_the_overlap_the_old_keys_are_refused() -> None:
    record = rotated(merchant(), keys(NEW), timedelta(hours=72), DEV_CONFIG_KEY, NOW)
    at = NOW + timedelta(hours=72, seconds=1)
    refused = await MerchantDirectory(Directory(record)).authenticate(
        request(OLD, at), int(at.timestamp()), topic=INGEST_REQUESTS
    )
    assert isinstance(refused, Refusal) and refused.code in (RtnCode.DATA_DECRYPT_FAILED, RtnCode.CHECKMAC_MISMATCH)


def test_a_record_sealed_under_the_old_config_key_opens_only_while_that_key_is_still_given() -> None:
    old_record = merchant(DEV_CONFIG_KEY).record
    with pytest.raises(ValueError, match="another config key"):
        merchant_parser(NEW_CONFIG_KEY)(wire(old_record))
    during = merchant_parser(NEW_CONFIG_KEY, DEV_CONFIG_KEY)(wire(old_record))
    assert during.secrets == keys(OLD)
    again = resealed(during, NEW_CONFIG_KEY, NOW)
    assert merchant_parser(NEW_CONFIG_KEY)(wire(again)).secrets == keys(OLD)


def test_production_refuses_to_start_on_the_public_development_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECTICKET_ENV", "production")
    monkeypatch.delenv("ECTICKET_CONFIG_KEY", raising=False)
    monkeypatch.setenv("ECTICKET_AUDIT_SIGNING_KEY", "ab" * 32)
    with pytest.raises(MissingSecret, match="ECTICKET_CONFIG_KEY"):
        Settings.from_env()
    monkeypatch.setenv("ECTICKET_CONFIG_KEY", DEV_CONFIG_KEY)
    with pytest.raises(MissingSecret):
        Settings.from_env()
    monkeypatch.setenv("ECTICKET_CONFIG_KEY", NEW_CONFIG_KEY)
    monkeypatch.setenv("ECTICKET_AUDIT_SIGNING_KEY", DEV_AUDIT_SIGNING_KEY)
    with pytest.raises(MissingSecret, match="ECTICKET_AUDIT_SIGNING_KEY"):
        Settings.from_env()
    monkeypatch.setenv("ECTICKET_AUDIT_SIGNING_KEY", "ab" * 32)
    monkeypatch.delenv("ECTICKET_CODE_KEY", raising=False)
    with pytest.raises(MissingSecret, match="ECTICKET_CODE_KEY"):
        Settings.from_env()
    monkeypatch.setenv("ECTICKET_CODE_KEY", DEV_CODE_KEY)
    with pytest.raises(MissingSecret, match="ECTICKET_CODE_KEY"):
        Settings.from_env()
    monkeypatch.setenv("ECTICKET_CODE_KEY", "cd" * 32)
    monkeypatch.setenv("ECTICKET_EVENT_KEYS", "k1:" + "ef" * 32)  # its refusals: tests/unit/test_seal.py
    assert Settings.from_env().config_key_hex == NEW_CONFIG_KEY
