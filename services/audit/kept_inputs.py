"""What the inputs check keeps of each archived input until the decisions that name it are read: its kind, whether
its signature verified, where it is, and a keyed 8-byte digest of each fact a decision is compared with. About 150
bytes an input instead of the input (the archive is read before the decisions, so every input is held at once).

Digests, not values: a decision that differs is reported with the field and the decision's value; the input's own
value is in the archive record the finding names. The digest key is drawn per audit (and saved with a resumable
run's state), so nobody can prepare a decision whose facts collide with a signed input's.
"""

from __future__ import annotations

import hashlib
import secrets
import struct
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from shared.contracts.payments import PaymentConfirmed, PaymentRejectReason

REQUEST, PAYMENT = "request", "payment result"
# The facts of each kind, in the order `Signed.facts` gives them.
REQUEST_FACTS = ("merchant_id", "request_id", "issue_type", "trade_no", "tickets")
PAYMENT_FACTS = ("refused", *(f for f in PaymentConfirmed.model_fields if f not in ("escrow_days", "duplicate_of")))
_REASONS = tuple(PaymentRejectReason)
_HEAD = struct.Struct("<BBHQ")  # kind | verified << 1, refusal reason (255: none), partition, offset
_NONE = 255


@dataclass(frozen=True, slots=True)
class Signed:
    """An archived input as read: its kind, whether its signature verified, its facts (REQUEST_FACTS or
    PAYMENT_FACTS order; none when it did not verify)."""

    kind: str
    verified: bool
    facts: tuple[object, ...] = ()


@dataclass(frozen=True, slots=True)
class Kept:
    kind: str
    verified: bool
    refused: str | None  # a payment result payment confirmation's own `assess` refuses, and why
    where: str
    digests: bytes
    key: bytes

    def agrees(self, name: str, value: object) -> bool:
        names = REQUEST_FACTS if self.kind == REQUEST else PAYMENT_FACTS
        n = names.index(name)
        return self.digests[8 * n : 8 * n + 8] == _digest(self.key, value)


@dataclass
class KeptInputs:
    topic: str = ""  # the archive topic (every record's, a test's copy included)
    key: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    _by_id: dict[bytes, bytes] = field(default_factory=dict)

    def add(self, message_id: uuid.UUID, topic: str, partition: int, offset: int, signed: Signed) -> None:
        self.topic = topic
        refused = signed.facts[0] if signed.kind == PAYMENT and signed.facts else None
        reason = _NONE if refused is None else _REASONS.index(PaymentRejectReason(str(refused)))
        head = _HEAD.pack(int(signed.kind == PAYMENT) | int(signed.verified) << 1, reason, partition, offset)
        self._by_id[message_id.bytes] = head + b"".join(_digest(self.key, v) for v in signed.facts)

    def get(self, message_id: uuid.UUID) -> Kept | None:
        packed = self._by_id.get(message_id.bytes)
        if packed is None:
            return None
        flags, reason, partition, offset = _HEAD.unpack_from(packed)
        kind = PAYMENT if flags & 1 else REQUEST
        refused = None if reason == _NONE else _REASONS[reason].value
        where = f"{self.topic}[{partition}]@{offset}"
        return Kept(kind, bool(flags & 2), refused, where, packed[_HEAD.size :], self.key)

    def __len__(self) -> int:
        return len(self._by_id)


def _digest(key: bytes, value: object) -> bytes:
    # repr: the same value gives the same text in every process (unlike hash() of a str), types included; an
    # instant the same whatever its time zone (the signed result's Taipei time, the event's UTC).
    if isinstance(value, datetime):
        value = value.astimezone(UTC).isoformat()
    return hashlib.blake2b(repr(value).encode(), digest_size=8, key=key).digest()
