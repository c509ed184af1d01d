"""Inputs for the fuzz campaign (pure): valid messages mutated at the byte level and at the JSON level.

Every mutation takes a valid message's bytes and a `random.Random`, and returns other bytes; a seed reproduces a
campaign. Byte-level: flipped bits, truncation, inserted, deleted and repeated spans, random bytes. JSON-level (on
the parsed message, or on a request's decrypted Data re-sealed with the merchant's real keys, so it passes the
checksum and reaches the validators): values replaced by wrong types, huge and negative numbers, unicode edge cases,
SQL and JSON injection strings, deep nesting, duplicate keys, missing and unknown fields.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

EDGE_VALUES: tuple[Any, ...] = (
    None, True, False, 0, -1, -500, 2**31, 2**63, 10**30, 1.5, -0.0, 1e308, "", " ", "0", "-500", "+500", "5_00",
    "٥٠٠", "５００", "\u0000", "\ud800", "\U0010ffff", "\u202e", "ａ" * 300, "x" * 70_000, "' OR 1=1 --",
    "'; DROP TABLE tickets; --", '{"$ne": null}', "__proto__", "${jndi:ldap://x}", "../../etc/passwd", [], {},
    [1, 2, 3], {"a": {"b": {}}},
)  # fmt: skip


def flip_bits(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8)
    return bytes(data)


def truncate(raw: bytes, rng: random.Random) -> bytes:
    return raw[: rng.randrange(len(raw))]


def insert_random(raw: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(raw) + 1)
    return raw[:i] + rng.randbytes(rng.randint(1, 64)) + raw[i:]


def delete_span(raw: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(raw))
    return raw[:i] + raw[i + rng.randint(1, 32) :]


def repeat_span(raw: bytes, rng: random.Random) -> bytes:
    i = rng.randrange(len(raw))
    span = raw[i : i + rng.randint(1, 64)]
    return raw[:i] + span * rng.randint(2, 200) + raw[i:]


def random_bytes(raw: bytes, rng: random.Random) -> bytes:
    return rng.randbytes(rng.choice((0, 1, 7, len(raw), 4096)))


BYTE_MUTATIONS: dict[str, Callable[[bytes, random.Random], bytes]] = {
    "flip bits": flip_bits,
    "truncate": truncate,
    "insert random bytes": insert_random,
    "delete a span": delete_span,
    "repeat a span": repeat_span,
    "random bytes": random_bytes,
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document (dict keys and list indexes), the document itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, inner in value.items():
            found += _paths(inner, (*prefix, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _paths(inner, (*prefix, i))
    return found


def _set(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    holder = document
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = new
    return document


def replace_value(document: Any, rng: random.Random) -> Any:
    return _set(document, rng.choice(_paths(document)), rng.choice(EDGE_VALUES))


def drop_field(document: Any, rng: random.Random) -> Any:
    places = [p for p in _paths(document) if p and isinstance(p[-1], str)]
    if not places:
        return document
    path = rng.choice(places)
    holder = document
    for step in path[:-1]:
        holder = holder[step]
    del holder[path[-1]]
    return document


def add_unknown_field(document: Any, rng: random.Random) -> Any:
    if isinstance(document, dict):
        document[rng.choice(("x", "MerchantID ", "merchantid", "__class__", "TicketInfo2"))] = rng.choice(EDGE_VALUES)
    return document


def nest_deeply(document: Any, rng: random.Random) -> Any:
    deep: Any = "end"
    for _ in range(rng.choice((50, 300, 900))):  # (deeper than json.dumps can write: the hostile flood has 1,200)
        deep = [deep] if rng.random() < 0.5 else {"a": deep}
    return _set(document, rng.choice(_paths(document)), deep)


JSON_MUTATIONS: dict[str, Callable[[Any, random.Random], Any]] = {
    "a value replaced by an edge value": replace_value,
    "a field dropped": drop_field,
    "an unknown field added": add_unknown_field,
    "deep nesting": nest_deeply,
}


def duplicate_key(encoded: str, rng: random.Random) -> str:
    """A key repeated with another value, which json.dumps cannot write: done on the text."""
    i = encoded.find('":')
    if i < 0:
        return encoded
    start = encoded.rfind('"', 0, i) + 1
    key = encoded[start:i]
    return encoded.replace("{", '{"' + key + '": ' + json.dumps(rng.choice(EDGE_VALUES)) + ", ", 1)


def dumps(document: Any) -> str:
    """As json.dumps, but never failing: NaN and lone surrogates are written as they are (escaped)."""
    return json.dumps(document, ensure_ascii=True, allow_nan=True)
