"""WriteOffNo is a bearer code: whoever holds it redeems the voucher. Inside the platform it travels and is stored
only as a keyed hash (to look a write-off request up by) and a ciphertext (for the services that must show the code
to its merchant: issuance's Issue reply, the query side's answers). Both come from one platform key,
ECTICKET_CODE_KEY (docs/security.md "Bearer codes").

- `digest(code)`: HMAC-SHA256 under a key derived for hashing, first 128 bits in hex. Without the key a
  digest cannot be checked against guessed codes; 128 bits keep collisions out of reach for any number of tickets.
- `seal(ticket_no, code)` / `open(ticket_no, sealed)`: AES-SIV (RFC 5297) under a key derived for sealing, the
  ticket number as associated data. AES-SIV is deterministic: the same ticket's code always seals to the same
  bytes, so an event re-derived from the same facts (the audit's byte-for-byte check) is equal without any nonce
  to carry, and a repeated input reveals only that it is the same ticket's code. Binding the ticket number means a
  ciphertext moved to another ticket does not open.
The sealed form is "v1." + base64url: the version leaves room for a second key during a rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

_VERSION = "v1."
_DIGEST_HEX = 32  # 128 bits


class ProtectedCode(NamedTuple):
    """A write-off code as the platform keeps it: what requests are looked up by, and what only key holders open."""

    digest: str
    sealed: str


class UnreadableCode(ValueError):
    """A sealed code that this key does not open (another key, another ticket, or altered bytes)."""


@dataclass(frozen=True)
class CodeKey:
    """The platform's write-off code key (32 bytes). Never printed: its repr names nothing of it."""

    _hash_key: bytes = field(repr=False)
    _siv: AESSIV = field(repr=False)

    @classmethod
    def from_hex(cls, key_hex: str) -> CodeKey:
        try:
            master = bytes.fromhex(key_hex)
        except ValueError:
            raise ValueError("ECTICKET_CODE_KEY must be hex") from None
        if len(master) != 32:
            raise ValueError("ECTICKET_CODE_KEY must be 32 bytes (64 hex digits)")
        # Separate keys for separate jobs, derived from the one secret (HMAC as a PRF, one label each).
        hash_key = _derive(master, b"write-off digest")
        siv_key = _derive(master, b"write-off seal 1") + _derive(master, b"write-off seal 2")
        return cls(hash_key, AESSIV(siv_key))

    def digest(self, code: str) -> str:
        return hmac.new(self._hash_key, code.encode(), hashlib.sha256).hexdigest()[:_DIGEST_HEX]

    def seal(self, ticket_no: str, code: str) -> str:
        sealed = self._siv.encrypt(code.encode(), [ticket_no.encode()])
        return _VERSION + base64.urlsafe_b64encode(sealed).decode().rstrip("=")

    def open(self, ticket_no: str, sealed: str) -> str:
        if not sealed.startswith(_VERSION):
            raise UnreadableCode("not a sealed write-off code of a known version")
        body = sealed[len(_VERSION) :]
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            return self._siv.decrypt(raw, [ticket_no.encode()]).decode()
        except (InvalidTag, ValueError):
            raise UnreadableCode("the write-off code does not open with this key for this ticket") from None

    def protect(self, ticket_no: str, code: str) -> ProtectedCode:
        return ProtectedCode(self.digest(code), self.seal(ticket_no, code))


def _derive(master: bytes, label: bytes) -> bytes:
    return hmac.new(master, label, hashlib.sha256).digest()
