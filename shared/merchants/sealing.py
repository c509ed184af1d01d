"""Merchant secrets travel sealed (AES-256-GCM under the platform's config key), never in the clear."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, SecretStr


class MerchantSecrets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ticket_hash_key: SecretStr
    ticket_hash_iv: SecretStr
    payment_hash_key: SecretStr
    payment_hash_iv: SecretStr


class SealedSecrets(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    nonce: str
    ciphertext: str


def _plain(secrets: MerchantSecrets) -> bytes:
    values = [
        s.get_secret_value()
        for s in (
            secrets.ticket_hash_key,
            secrets.ticket_hash_iv,
            secrets.payment_hash_key,
            secrets.payment_hash_iv,
        )
    ]
    return "\n".join(values).encode()


def seal(secrets: MerchantSecrets, merchant_id: str, config_key_hex: str) -> SealedSecrets:
    nonce = os.urandom(12)
    # The merchant id is authenticated data: a sealed blob copied onto another merchant fails to open.
    ciphertext = AESGCM(bytes.fromhex(config_key_hex)).encrypt(nonce, _plain(secrets), merchant_id.encode())
    return SealedSecrets(nonce=base64.b64encode(nonce).decode(), ciphertext=base64.b64encode(ciphertext).decode())


def unseal(sealed: SealedSecrets, merchant_id: str, config_key_hex: str, *previous_keys_hex: str) -> MerchantSecrets:
    """Open with the current config key, else with one still accepted during a rotation (ECTICKET_CONFIG_KEY_PREVIOUS:
    records sealed before the rotation stay readable until `python -m shared.admin merchant reseal` has sealed them
    again). AES-GCM's tag tells a wrong key apart: InvalidTag when no key opens it."""
    nonce, ciphertext = base64.b64decode(sealed.nonce), base64.b64decode(sealed.ciphertext)
    for key in (config_key_hex, *previous_keys_hex):
        try:
            plain = AESGCM(bytes.fromhex(key)).decrypt(nonce, ciphertext, merchant_id.encode())
            break
        except InvalidTag:
            continue
    else:
        raise InvalidTag
    key, iv, pay_key, pay_iv = plain.decode().split("\n")
    return MerchantSecrets(
        ticket_hash_key=SecretStr(key),
        ticket_hash_iv=SecretStr(iv),
        payment_hash_key=SecretStr(pay_key),
        payment_hash_iv=SecretStr(pay_iv),
    )
