"""The merchants' keys the auditor re-verifies archived inputs with: from a keys file the platform operator hands
over (`python -m services.audit merchant-keys --out FILE`), or read from this environment's merchant directory with
its config key (`--trust-local-merchants`, the operator's own run or development).

The file, a secret to be handled like the keys themselves (written 0600):
`{"<MerchantID>": [{"ticket_hash_key": ..., "ticket_hash_iv": ..., "payment_hash_key": ..., "payment_hash_iv": ...,
"mode": "production"}, ...]}`: every key set the merchant has used, newest first (a rotation adds one; requests
signed before it verify with the older set). `mode` (sandbox or production, production if absent) only decides
whether a simulated payment may be confirmed when a payment is re-derived.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

from services.audit.reader import KafkaLog
from shared.merchants.model import Merchant, MerchantRecord, Mode, merchant_parser
from shared.merchants.sealing import MerchantSecrets, SealedSecrets
from shared.settings import Settings
from shared.topics import MERCHANT_CONFIG

FIELDS = ("ticket_hash_key", "ticket_hash_iv", "payment_hash_key", "payment_hash_iv")


def from_file(path: Path) -> dict[str, list[Merchant]]:
    """Raises ValueError for a file that is not the format above (never showing a key)."""
    document = json.loads(path.read_text())
    if not isinstance(document, dict):
        raise ValueError(f"{path}: not a JSON object of merchant ids")
    found: dict[str, list[Merchant]] = {}
    for merchant_id, sets in document.items():
        for n, one in enumerate(sets if isinstance(sets, list) else [sets]):
            if not isinstance(one, dict) or not all(isinstance(one.get(f), str) for f in FIELDS):
                raise ValueError(f"{path}: key set {n} of {merchant_id} lacks one of {', '.join(FIELDS)}")
            secrets = MerchantSecrets.model_validate({f: one[f] for f in FIELDS})
            found.setdefault(merchant_id, []).append(
                _merchant(merchant_id, secrets, Mode(one.get("mode", "production")))
            )
    return found


async def from_directory(settings: Settings) -> dict[str, list[Merchant]]:
    """Every key set the merchant topic still holds for each merchant (its current record, the keys before its
    last rotation, and any older record compaction has not removed yet), newest first."""
    parse = merchant_parser(settings.config_key_hex, *settings.previous_config_keys_hex)
    log = KafkaLog(settings.kafka_bootstrap)
    await log.start()
    found: dict[str, list[Merchant]] = {}
    try:
        for span in await log.spans([MERCHANT_CONFIG]):
            async for record in log.records(span):
                if not record.value:
                    continue  # a tombstone
                merchant = parse(record.value)
                sets = [merchant] + (
                    [_merchant_with(merchant, merchant.previous_secrets)] if merchant.previous_secrets else []
                )
                known = found.setdefault(merchant.merchant_id, [])
                known[:0] = [m for m in sets if all(m.secrets != k.secrets for k in known)]
    finally:
        await log.stop()
    return found


def write(found: dict[str, list[Merchant]], out: Path) -> None:
    """The keys file for an auditor, readable by its owner only."""
    document = {
        merchant_id: [
            {f: getattr(m.secrets, f).get_secret_value() for f in FIELDS} | {"mode": m.record.mode.value} for m in sets
        ]
        for merchant_id, sets in sorted(found.items())
    }
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as f:
        json.dump(document, f, indent=2)
        f.write("\n")


def _merchant_with(merchant: Merchant, secrets: MerchantSecrets) -> Merchant:
    return Merchant(merchant.record, secrets)


def _merchant(merchant_id: str, secrets: MerchantSecrets, mode: Mode) -> Merchant:
    """A merchant as far as verifying its inputs goes: its keys and mode (nothing sealed: the record's sealed secrets
    are never opened here)."""
    record = MerchantRecord(merchant_id=merchant_id, name=merchant_id, mode=mode,
                            secrets=SealedSecrets(nonce="", ciphertext=""), updated_at=datetime.now(UTC))  # fmt: skip
    return Merchant(record, secrets)
