"""Ticket numbers and write-off codes. The random source is injected: a CSPRNG in production, seeded in tests."""

from __future__ import annotations

import secrets
import string
from typing import Protocol

TICKET_NO_LENGTH = 16
WRITE_OFF_NO_LENGTH = 18
# Ticket numbers are printed and read aloud: upper case and digits without look-alikes (0/O, 1/I).
TICKET_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
# Write-off codes are bearer secrets in a barcode: mixed case and digits, 18 chars ≈ 107 bits.
WRITE_OFF_ALPHABET = string.ascii_letters + string.digits


class RandomSource(Protocol):
    def randbytes(self, n: int) -> bytes: ...


class SystemRandomSource:
    def randbytes(self, n: int) -> bytes:
        return secrets.token_bytes(n)


def _token(source: RandomSource, alphabet: str, length: int) -> str:
    """`length` letters of `alphabet`, each equally likely: one random byte per letter, drawn in one call (a
    CSPRNG call per letter, as `secrets.choice` makes, was a tenth of issuance's CPU), and a byte at or above the
    largest multiple of the alphabet's size skipped, so that no letter is likelier than another."""
    size = len(alphabet)
    limit = 256 - 256 % size  # 62 letters: 248, so 3 % of bytes are skipped; 32 letters: none
    letters: list[str] = []
    while len(letters) < length:
        letters += [alphabet[b % size] for b in source.randbytes(length + 4) if b < limit]
    return "".join(letters[:length])


def new_ticket_no(source: RandomSource) -> str:
    return _token(source, TICKET_ALPHABET, TICKET_NO_LENGTH)


def new_write_off_no(source: RandomSource) -> str:
    return _token(source, WRITE_OFF_ALPHABET, WRITE_OFF_NO_LENGTH)
