"""Deterministic identifiers: a redelivered input must produce byte-identical outputs."""

from __future__ import annotations

import hashlib
import uuid

# Fixed namespace for every id the platform derives; never change it (replays depend on it).
PLATFORM_NAMESPACE = uuid.UUID("6f1d3c55-2a7e-5b9e-9d0c-ec71c4e7a001")
# SHA-1 already fed with the namespace: uuid5's hash of namespace + name, continued from here, is the same hash.
_NAMESPACE_SHA1 = hashlib.sha1(PLATFORM_NAMESPACE.bytes)


def derived_id(cause: uuid.UUID | str, label: str) -> uuid.UUID:
    """Id of the `label`-th consequence of `cause` (an event id or any stable string)."""
    return _uuid5(f"{cause}/{label}")


def content_id(source: str, raw: bytes) -> uuid.UUID:
    """Id of a raw inbound message: the same bytes on the same topic are the same message."""
    return _uuid5(f"{source}/{hashlib.sha256(raw).hexdigest()}")


def _uuid5(name: str) -> uuid.UUID:
    """`uuid.uuid5(PLATFORM_NAMESPACE, name)` at half the cost (it imports hashlib and hashes the namespace on
    every call); an expiry sweep derives one id per ticket. A unit test holds the two equal."""
    digest = _NAMESPACE_SHA1.copy()
    digest.update(name.encode())
    return uuid.UUID(bytes=digest.digest()[:16], version=5)
