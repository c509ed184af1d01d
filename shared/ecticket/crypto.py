"""ECTicket ``Data`` encryption (spec §2.4) and CheckMacValue (spec §2.5, §2.6).

Keys and IVs never appear in exception messages: configuration errors name the parameter, not its value.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shared.ecticket.urlencoding import (
    Encoder,
    js_encode_uri_component,
    lenient_urldecode,
    php_to_js,
    php_to_rfc3986,
    php_urlencode,
    rfc3986_encode,
)

__all__ = [
    "VERIFY_ENCODERS",
    "DataDecryptError",
    "check_mac_value",
    "decrypt_data",
    "encrypt_data",
    "seal_data",
    "verify_check_mac_value",
]

_BLOCK_BYTES = 16
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


@functools.lru_cache(maxsize=1024)
def _cipher(hash_key: str, hash_iv: str) -> Cipher[modes.CBC]:
    # Kept per key pair (a Cipher only holds the key; each call takes a fresh encryptor or decryptor from it):
    # building one costs about as much as encrypting a query's reply. The keys are in memory already (the
    # merchant directory), and a cache of 1,024 pairs covers every merchant a process serves at once.
    key = _key_bytes(hash_key, "HashKey")
    iv = _key_bytes(hash_iv, "HashIV")
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def encrypt_data(plaintext: str, hash_key: str, hash_iv: str) -> str:
    """JSON string → PHP ``urlencode`` → AES-128-CBC with PKCS7 → standard base64 (with ``=`` padding)."""
    return _encrypt_encoded(php_urlencode(plaintext), hash_key, hash_iv)


def _encrypt_encoded(encoded: str, hash_key: str, hash_iv: str) -> str:
    """`encrypt_data` of a text already URL-encoded (PHP flavour)."""
    raw = encoded.encode("ascii")
    pad = _BLOCK_BYTES - len(raw) % _BLOCK_BYTES  # PKCS7: always 1 to 16 bytes, each the count
    encryptor = _cipher(hash_key, hash_iv).encryptor()
    ciphertext = encryptor.update(raw + bytes((pad,)) * pad) + encryptor.finalize()
    return base64.b64encode(ciphertext).decode("ascii")


def seal_data(plaintext: str, hash_key: str, hash_iv: str) -> tuple[str, str]:
    """(`encrypt_data`, `check_mac_value`) of the same plaintext, URL-encoding it once for both: percent-encoding
    works byte by byte, so the encoding of HashKey + plaintext + HashIV is the three encodings joined."""
    encoded = php_urlencode(plaintext)
    return _encrypt_encoded(encoded, hash_key, hash_iv), _mac_of_encoded(
        php_urlencode(hash_key) + encoded + php_urlencode(hash_iv)
    )


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
        # The library's unpadder, not a Python check: its time does not depend on where the padding is wrong.
        unpadder = padding.PKCS7(_BLOCK_BYTES * 8).unpadder()
        return lenient_urldecode(unpadder.update(padded) + unpadder.finalize())
    except (binascii.Error, ValueError) as exc:
        # binascii.Error: bad base64; ValueError: ciphertext not block-aligned, bad padding, bad UTF-8.
        raise DataDecryptError("Data could not be decrypted") from exc


def check_mac_value(plaintext: str, hash_key: str, hash_iv: str, *, encoder: Encoder = php_urlencode) -> str:
    """``UPPER(SHA256(LOWER(URLEncode(HashKey + plaintext + HashIV))))`` (spec §2.5).

    ``plaintext`` must be the Data JSON exactly as encrypted. Outgoing checksums use PHP ``urlencode``, the
    encoder of ECPay's samples and most SDKs (§2.6); ``encoder`` exists so verification can try the others.
    """
    return _mac_of_encoded(encoder(hash_key + plaintext + hash_iv))


def _mac_of_encoded(encoded: str) -> str:
    return hashlib.sha256(encoded.lower().encode("ascii")).hexdigest().upper()


def verify_check_mac_value(plaintext: str, hash_key: str, hash_iv: str, received: str) -> bool:
    """True if ``received`` matches the checksum of ``plaintext`` under any of :data:`VERIFY_ENCODERS`.

    The hex comparison ignores case and is constant-time per candidate.
    """
    if not received.isascii():
        # compare_digest rejects non-ASCII str; such a value cannot be a hex digest anyway.
        return False
    candidate = received.upper().encode("ascii")
    # The three encodings from one: the other two differ from PHP's only in escapes a text replace can swap
    # (`php_to_rfc3986`), and encoding is the costly step. Same order as VERIFY_ENCODERS.
    php = php_urlencode(hash_key + plaintext + hash_iv)
    encodings = (php, php_to_rfc3986(php), php_to_js(php))
    # Evaluate every encoder (no short-circuit) so timing does not reveal which one matched.
    matches = [hmac.compare_digest(_mac_of_encoded(e).encode("ascii"), candidate) for e in encodings]
    return any(matches)
