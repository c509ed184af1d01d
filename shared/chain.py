"""The hash chain every domain event carries, and the signed checkpoints over it (pure: no I/O, no keys stored).

One chain per producing service (per outbox). Its n-th event (n = 1, 2, ...) carries, as Kafka record headers:

    chain        the service's name (its outbox schema)
    chain_seq    n, in decimal
    chain_prev   the link of event n-1, 32 raw bytes (for n = 1, `genesis(service)`)
    chain_link   sha256(prev || n as 8 bytes big-endian || sha256(topic NUL key NUL value)), 32 raw bytes

So an event's link commits to its topic, its key, its exact bytes, its place in its service's chain and, through
`prev`, to everything before it. Anyone can compute a link (no secret): what makes the chain evidence is the
checkpoint, a record signed with the platform's Ed25519 key saying "service S's chain had link L at event n". An
event edited, removed, inserted or moved before a checkpoint breaks either its own link or the link the checkpoint
signed. See docs/audit.md for the threat model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.clock import utc

VERSION = "ecticket.chain.v1"
HEADER_CHAIN = "chain"
HEADER_SEQ = "chain_seq"
HEADER_PREV = "chain_prev"
HEADER_LINK = "chain_link"


def genesis(service: str) -> bytes:
    """The `prev` of a chain's first event: distinct per service, so two chains never share a link."""
    return hashlib.sha256(f"{VERSION}/{service}".encode()).digest()


def event_hash(topic: str, key: str, value: bytes) -> bytes:
    return hashlib.sha256(topic.encode() + b"\0" + key.encode() + b"\0" + value).digest()


def link(prev: bytes, seq: int, hashed: bytes) -> bytes:
    return hashlib.sha256(prev + seq.to_bytes(8, "big") + hashed).digest()


@dataclass(frozen=True, slots=True)
class Link:
    """An event's place in its service's chain."""

    service: str
    seq: int
    prev: bytes
    link: bytes

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            (HEADER_CHAIN, self.service.encode()),
            (HEADER_SEQ, b"%d" % self.seq),
            (HEADER_PREV, self.prev),
            (HEADER_LINK, self.link),
        ]


class MalformedLink(ValueError):
    """Chain headers that are present but unreadable."""


def link_from_headers(headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> Link | None:
    """The record's link, or None when it carries no chain headers at all (an unchained record)."""
    found = {name: value for name, value in headers if name.startswith("chain")}
    if not found:
        return None
    try:
        prev, current = found[HEADER_PREV], found[HEADER_LINK]
        if len(prev) != 32 or len(current) != 32:
            raise ValueError("a link is 32 bytes")
        return Link(found[HEADER_CHAIN].decode(), int(found[HEADER_SEQ]), prev, current)
    except (KeyError, ValueError, UnicodeDecodeError) as exc:
        raise MalformedLink(f"unreadable chain headers: {exc}") from None


def extend(service: str, last_seq: int, last_link: bytes, records: list[tuple[str, str, bytes]]) -> list[Link]:
    """The links of `records` (topic, key, value), continuing a chain whose last event was `last_seq`/`last_link`
    (0 and `genesis(service)` for a new chain)."""
    # `event_hash` and `link` inlined: the relay links every event it publishes, on its critical path.
    sha256 = hashlib.sha256
    links = []
    prev, seq = last_link, last_seq
    for topic, key, value in records:
        seq += 1
        hashed = sha256(b"%b\0%b\0%b" % (topic.encode(), key.encode(), value)).digest()
        current = sha256(b"%b%b%b" % (prev, seq.to_bytes(8, "big"), hashed)).digest()
        links.append(Link(service, seq, prev, current))
        prev = current
    return links


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement: `service`'s chain had link `link` at event `seq`, as of `at`."""

    service: str
    seq: int
    link: bytes
    at: datetime
    key_id: str
    signature: bytes = b""

    def signed_bytes(self) -> bytes:
        """What the signature covers: canonical JSON of every field but the signature."""
        body = {"v": VERSION, "service": self.service, "seq": self.seq, "link": self.link.hex()}
        body |= {"at": utc(self.at).isoformat(), "key_id": self.key_id}
        return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()

    def to_bytes(self) -> bytes:
        record = json.loads(self.signed_bytes())
        record["signature"] = self.signature.hex()
        return json.dumps(record, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Checkpoint:
        try:
            record = json.loads(raw)
            return cls(
                service=str(record["service"]),
                seq=int(record["seq"]),
                link=bytes.fromhex(record["link"]),
                at=datetime.fromisoformat(record["at"]),
                key_id=str(record["key_id"]),
                signature=bytes.fromhex(record["signature"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise MalformedLink(f"unreadable checkpoint: {exc}") from None

    def signed(self, private_key: Ed25519PrivateKey) -> Checkpoint:
        signature = private_key.sign(self.signed_bytes())
        return Checkpoint(self.service, self.seq, self.link, self.at, self.key_id, signature)

    def verifies(self, public_keys: dict[str, Ed25519PublicKey]) -> bool:
        """True when the signature is by the published key its key id names."""
        key = public_keys.get(self.key_id)
        if key is None:
            return False
        try:
            key.verify(self.signature, self.signed_bytes())
        except InvalidSignature:
            return False
        return True


def private_key_from_hex(seed_hex: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed_hex))


def public_key_from_hex(public_hex: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_hex))


def public_hex(private_key: Ed25519PrivateKey) -> str:
    return private_key.public_key().public_bytes_raw().hex()
