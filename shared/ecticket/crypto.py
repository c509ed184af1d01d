"""ECTicket ``Data`` encryption (spec §2.4) and CheckMacValue (spec §2.5, §2.6).

Keys and IVs never appear in exception messages: configuration errors name the parameter, not its value.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shared.ecticket.urlencoding import (
    Encoder,
    js_encode_uri_component,
    lenient_urldecode,
    php_urlencode,
    rfc3986_encode,
)

__all__ = [
    "VERIFY_ENCODERS",
    "DataDecryptError",
    "check_mac_value",
    "decrypt_data",
    "encrypt_data",
    "verify_check_mac_value",
]

_AES_BLOCK_BITS = 128
_KEY_CHARS = 16

VERIFY_ENCODERS: tuple[Encoder, ...] = (php_urlencode, rfc3986_encode, js_encode_uri_component)
"""Encoders whose CheckMacValue is accepted on input; which one ECPay's own server uses is unknown (§7.6)."""


class DataDecryptError(ValueError):
    """``Data`` is not valid base64, AES-128-CBC/PKCS7 ciphertext under this key, or UTF-8 once decoded.

    The message is deliberately the same for every cause (the original error is chained as ``__cause__``
    for local debugging): telling a remote caller whether the padding was valid helps padding-oracle attacks.
    """


def _key_bytes(value: str, name: str) -> bytes:
    # ECPay keys are 16 printable ASCII characters used byte for byte as the AES-128 key / IV.
    if len(value) != _KEY_CHARS or not value.isascii():
        raise ValueError(f"{name} must be exactly {_KEY_CHARS} ASCII characters")
    return value.encode("ascii")


def _cipher(hash_key: str, hash_iv: str) -> Cipher[modes.CBC]:
    key = _key_bytes(hash_key, "HashKey")
    iv = _key_bytes(hash_iv, "HashIV")
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def encrypt_data(plaintext: str, hash_key: str, hash_iv: str) -> str:
    """JSON string → PHP ``urlencode`` → AES-128-CBC with PKCS7 → standard base64 (with ``=`` padding)."""
    padder = padding.PKCS7(_AES_BLOCK_BITS).padder()
    padded = padder.update(php_urlencode(plaintext).encode("ascii")) + padder.finalize()
    encryptor = _cipher(hash_key, hash_iv).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii")


def decrypt_data(data: str, hash_key: str, hash_iv: str) -> str:
    """Reverse :func:`encrypt_data`, accepting any client's URL-encoding flavour.

    Raises :class:`DataDecryptError` for anything a remote party could have got wrong; a malformed local
    HashKey/HashIV is a configuration error and raises a plain ``ValueError`` instead.
    """
    cipher = _cipher(hash_key, hash_iv)
    try:
        # validate=True: silently skipping junk characters would accept a mangled Data field.
        ciphertext = base64.b64decode(data, validate=True)
        decryptor = cipher.decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        unpadder = padding.PKCS7(_AES_BLOCK_BITS).unpadder()
        encoded = unpadder.update(padded) + unpadder.finalize()
        return lenient_urldecode(encoded)
    except (binascii.Error, ValueError) as exc:
        # binascii.Error: bad base64; ValueError: ciphertext not block-aligned, bad padding, bad UTF-8.
        raise DataDecryptError("Data could not be decrypted") from exc


def check_mac_value(plaintext: str, hash_key: str, hash_iv: str, *, encoder: Encoder = php_urlencode) -> str:
    """``UPPER(SHA256(LOWER(URLEncode(HashKey + plaintext + HashIV))))`` (spec §2.5).

    ``plaintext`` must be the Data JSON exactly as encrypted. Outgoing checksums use PHP ``urlencode``, the
    encoder of ECPay's samples and most SDKs (§2.6); ``encoder`` exists so verification can try the others.
    """
    encoded = encoder(hash_key + plaintext + hash_iv).lower()
    return hashlib.sha256(encoded.encode("ascii")).hexdigest().upper()


def verify_check_mac_value(plaintext: str, hash_key: str, hash_iv: str, received: str) -> bool:
    """True if ``received`` matches the checksum of ``plaintext`` under any of :data:`VERIFY_ENCODERS`.

    The hex comparison ignores case and is constant-time per candidate.
    """
    if not received.isascii():
        # compare_digest rejects non-ASCII str; such a value cannot be a hex digest anyway.
        return False
    candidate = received.upper().encode("ascii")
    # Evaluate every encoder (no short-circuit) so timing does not reveal which one matched.
    matches = [
        hmac.compare_digest(check_mac_value(plaintext, hash_key, hash_iv, encoder=enc).encode("ascii"), candidate)
        for enc in VERIFY_ENCODERS
    ]
    return any(matches)
