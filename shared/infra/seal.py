"""Provenance of the platform's own records: an HMAC seal that only holders of the platform event key can make.

Kafka does not say who produced a record, and with the broker's ACLs off (or a principal's password stolen) anyone
who reaches it can write a well-formed `TicketsIssued`. Every record a platform process publishes for other
services to consume (the relays, the admin CLI, test and benchmark drivers) therefore carries a header
`ecticket-seal: <kid>:<hex>`, HMAC-SHA256 under the key named `kid` over the topic, the record key and the value
bytes; every consumer of those topics checks it before anything else (`shared/infra/consumer.py`) and dead-letters
what fails, with the reason.

The seal is a function of the bytes alone: a relay restart that republishes an event sends the same seal. It does
not cover the partition, the timestamp or the other headers: a sealed record copied as is (to another partition
too) is the same event, which every inbox drops by its event_id; the chain-link headers have their own proof
(the signed checkpoints, shared/infra/chain.py).

Keys rotate by listing several (`ECTICKET_EVENT_KEYS="new:<hex>,old:<hex>"`): any listed key verifies, the first
seals. Keys are never printed (`EventKey`'s repr shows only its id).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from shared.settings import Settings
from shared.topics import is_ingestion

HEADER = "ecticket-seal"
# Domain-separation tag: the same key is never used to MAC anything but a record's (topic, key, value).
_TAG = b"ecticket-record-seal-v1\x00"
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")
KEY_BYTES = 32

PROVENANCE = "provenance:"  # how every reason below begins (the admin CLI never re-drives such a letter)
NO_SEAL = f"{PROVENANCE} no seal"
BAD_SEAL = f"{PROVENANCE} bad seal"


class BadKeys(ValueError):
    """ECTICKET_EVENT_KEYS is not a list of `<kid>:<64 hex digits>`."""


@dataclass(frozen=True)
class EventKey:
    key_id: str
    secret: bytes = field(repr=False)


def parse_keys(text: str) -> tuple[EventKey, ...]:
    """`kid:hex[,kid:hex...]`, the sealing key first. Errors never quote the key material."""
    keys: list[EventKey] = []
    for position, item in enumerate(p.strip() for p in text.split(",") if p.strip()):
        key_id, colon, hex_key = item.partition(":")
        if not colon or not _KEY_ID.fullmatch(key_id):
            raise BadKeys(f"ECTICKET_EVENT_KEYS item {position + 1}: expected <kid>:<hex>, kid 1-32 of [A-Za-z0-9._-]")
        try:
            secret = bytes.fromhex(hex_key)
        except ValueError:
            raise BadKeys(f"ECTICKET_EVENT_KEYS key {key_id!r} is not hex") from None
        if len(secret) != KEY_BYTES:
            raise BadKeys(f"ECTICKET_EVENT_KEYS key {key_id!r} must be {KEY_BYTES} bytes ({2 * KEY_BYTES} hex digits)")
        if any(k.key_id == key_id for k in keys):
            raise BadKeys(f"ECTICKET_EVENT_KEYS names key {key_id!r} twice")
        keys.append(EventKey(key_id, secret))
    if not keys:
        raise BadKeys("ECTICKET_EVENT_KEYS lists no key")
    return tuple(keys)


def _mac(base: hmac.HMAC, topic: str, key: bytes | None, value: bytes) -> bytes:
    # Length-prefixed fields, so no two (topic, key, value) triples feed the MAC the same bytes; a missing key is
    # told apart from an empty one. `base` has the key and the tag in already: a copy costs less than a new HMAC.
    mac = base.copy()
    encoded = topic.encode()
    keyed = b"\x00" if key is None else b"\x01" + len(key).to_bytes(4, "big") + key
    mac.update(b"".join((len(encoded).to_bytes(4, "big"), encoded, keyed, len(value).to_bytes(8, "big"))))
    mac.update(value)
    return mac.digest()


@dataclass(frozen=True)
class Keyring:
    """The platform event keys this process holds: `keys[0]` seals, every one verifies."""

    keys: tuple[EventKey, ...]
    _bases: dict[bytes, hmac.HMAC] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        bases = {k.key_id.encode(): hmac.new(k.secret, _TAG, hashlib.sha256) for k in self.keys}
        object.__setattr__(self, "_bases", bases)

    @classmethod
    def from_env(cls) -> Keyring:
        return cls(parse_keys(Settings.from_env().event_keys))

    def seal(self, topic: str, key: bytes | None, value: bytes) -> bytes:
        key_id = self.keys[0].key_id.encode()
        return key_id + b":" + _mac(self._bases[key_id], topic, key, value).hex().encode()

    def headers(self, topic: str, key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
        """The header to send with the record (aiokafka's `headers=`)."""
        return [(HEADER, self.seal(topic, key, value))]

    def problem(self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]]) -> str | None:
        """None when the record carries one valid seal; else why not (the dead letter's reason)."""
        seals = [v for name, v in headers if name == HEADER]
        if not seals:
            return NO_SEAL
        if len(seals) > 1:
            return f"{PROVENANCE} more than one seal"
        key_id, colon, hex_mac = seals[0].partition(b":")
        if not colon:
            return BAD_SEAL
        base = self._bases.get(key_id)
        if base is None:
            shown = key_id.decode("ascii")[:32] if _is_printable(key_id) else "?"
            return f"{PROVENANCE} unknown key id {shown!r}"
        try:
            given = bytes.fromhex(hex_mac.decode("ascii"))
        except ValueError:  # not hex, or not ASCII (UnicodeDecodeError is a ValueError)
            return BAD_SEAL
        return None if hmac.compare_digest(_mac(base, topic, key, value), given) else BAD_SEAL


def _is_printable(raw: bytes) -> bool:
    return all(0x21 <= b <= 0x7E for b in raw)


@functools.cache
def platform_keyring() -> Keyring:
    """This process's keyring from the environment, read once (drivers and tests that produce events directly)."""
    return Keyring.from_env()


def sealed_headers(topic: str, key: bytes | None, value: bytes) -> list[tuple[str, bytes]]:
    """The seal header for a record a driver or test publishes itself: `send(topic, value, key=key,
    headers=sealed_headers(topic, key, value))`."""
    return platform_keyring().headers(topic, key, value)


def is_sealed_topic(topic: str) -> bool:
    """Whether consumers demand a seal on `topic`: every topic but those merchants write (they sign with their own
    CheckMacValue instead)."""
    return not is_ingestion(topic)
