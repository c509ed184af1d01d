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
    def choice(self, alphabet: str) -> str: ...


class SystemRandomSource:
    def choice(self, alphabet: str) -> str:
        return secrets.choice(alphabet)


def _token(source: RandomSource, alphabet: str, length: int) -> str:
    return "".join(source.choice(alphabet) for _ in range(length))


def new_ticket_no(source: RandomSource) -> str:
    return _token(source, TICKET_ALPHABET, TICKET_NO_LENGTH)


def new_write_off_no(source: RandomSource) -> str:
    return _token(source, WRITE_OFF_ALPHABET, WRITE_OFF_NO_LENGTH)
