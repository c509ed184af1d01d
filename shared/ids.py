"""Deterministic identifiers: a redelivered input must produce byte-identical outputs."""

from __future__ import annotations

import hashlib
import uuid

# Fixed namespace for every id the platform derives; never change it (replays depend on it).
PLATFORM_NAMESPACE = uuid.UUID("6f1d3c55-2a7e-5b9e-9d0c-ec71c4e7a001")


def derived_id(cause: uuid.UUID | str, label: str) -> uuid.UUID:
    """Id of the `label`-th consequence of `cause` (an event id or any stable string)."""
    return uuid.uuid5(PLATFORM_NAMESPACE, f"{cause}/{label}")


def content_id(source: str, raw: bytes) -> uuid.UUID:
    """Id of a raw inbound message: the same bytes on the same topic are the same message."""
    return uuid.uuid5(PLATFORM_NAMESPACE, f"{source}/{hashlib.sha256(raw).hexdigest()}")
