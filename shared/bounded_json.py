"""Bounded JSON: parsing untrusted JSON with limits, so a hostile message is refused, never crashes its reader.

Python's `json` accepts what a payments system must not: 1,200 nested arrays raise RecursionError, `\\u0000` and
lone surrogates (`\\ud800`) come back as strings PostgreSQL cannot store and UTF-8 cannot encode, a repeated key
silently keeps its last value, and `NaN`, `Infinity` and `1e999` are read as floats. `loads` refuses each with one
exception type, `Rejected` (a ValueError), whose message names the rule that was broken and never quotes the input
at length. The common case stays cheap: the slow checks run only when a cheap test says they might find something
(a typical 1-2 KB message costs about twice `json.loads`, some 10-15 µs more; docs/decisions.md, "Input limits").
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "DEFAULT_MAX_STRING", "Rejected", "check_text", "loads"]

DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_MAX_DEPTH = 16
DEFAULT_MAX_STRING = 4096

# Depth is counted on the structural skeleton of the UTF-8 text: escapes removed, then only brackets and quotes kept
# (ASCII bytes never occur inside a multi-byte character), then the strings removed, so that brackets inside
# strings do not count.
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'[]{}"')
_STRING = re.compile(rb'"[^"]*"')
# An escape that may decode to NUL or to half of a surrogate pair (a false hit, such as an escaped backslash
# followed by "u0000", only costs the exact check below).
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
# What no accepted string may contain once decoded: NUL, or a surrogate code point (a valid pair decodes to one
# astral character, so only an unpaired half is left in this range).
_FORBIDDEN_CHAR = re.compile("[\x00\ud800-\udfff]")


class Rejected(ValueError):
    """The input broke one of the limits; the message says which, without echoing the input."""


def loads(
    raw: bytes | str,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_depth: int = DEFAULT_MAX_DEPTH,
    max_string: int = DEFAULT_MAX_STRING,
) -> Any:
    """Parse one JSON document within the limits (`max_bytes` counts characters for a str), or raise `Rejected`."""
    if len(raw) > max_bytes:
        raise Rejected(f"{len(raw)} bytes exceed the limit of {max_bytes}")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")  # strict: invalid bytes and UTF-8-encoded surrogates are refused
        except UnicodeDecodeError as exc:
            raise Rejected(f"not UTF-8 (byte {exc.start})") from None
    else:
        text = raw
        if not text.isascii() and _FORBIDDEN_CHAR.search(text):
            raise Rejected("contains NUL or an unpaired surrogate")
    if text.count("[") + text.count("{") > max_depth:  # else it cannot be too deep
        _check_depth(raw if isinstance(raw, bytes) else text.encode(), max_depth)
    try:
        value = _DECODER.decode(text)
    except Rejected:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an over-long integer; depth was checked
        raise Rejected(f"not JSON: {str(exc)[:120]}") from None
    if len(text) > max_string or ("\\u" in text and _SUSPECT_ESCAPE.search(text)):
        _check_strings(value, max_string)
    return value


def check_text(text: str, *, max_string: int = DEFAULT_MAX_STRING, what: str = "a value") -> str:
    """The same rules for one string that did not come from JSON (a form field, a name); returns it."""
    if len(text) > max_string:
        raise Rejected(f"{what} of {len(text)} characters exceeds the limit of {max_string}")
    if _FORBIDDEN_CHAR.search(text):
        raise Rejected(f"{what} contains NUL or an unpaired surrogate")
    return text


def _check_depth(utf8: bytes, max_depth: int) -> None:
    """Nesting depth without recursion: the deepest running count of open brackets outside strings."""
    if b"\\" in utf8:
        # Inside a string a run of backslashes pairs up from the left, so dropping the pairs and then every
        # escaped quote leaves strings whose only quotes are their own delimiters.
        utf8 = utf8.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = utf8.translate(None, _NOT_STRUCTURAL)
    # Usually no string holds a bracket, so each one is now '""'; a quote left over means one did.
    brackets = skeleton.replace(b'""', b"")
    if b'"' in brackets:
        brackets = _STRING.sub(b"", skeleton)
    remaining = brackets
    for _ in range(max_depth):  # each round removes the innermost pairs: empty after `depth` rounds
        # A placeholder, not b"": "{[]}" must not lose both levels in one round.
        remaining = remaining.replace(b"[]", b"_").replace(b"{}", b"_").replace(b"_", b"")
        if not remaining:
            return
    # Deeper, or brackets that do not pair up (not JSON either way); telling the two apart costs a Python loop
    # over every bracket, which a flood of 1,200-deep messages would pay for nothing.
    raise Rejected(f"nested deeper than {max_depth} levels, or brackets that do not pair up")


def _check_strings(value: Any, max_string: int) -> None:
    """Every key and string value (an explicit stack: the depth is bounded, but recursion need not be trusted)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            check_text(item, max_string=max_string, what="a string")
        elif isinstance(item, dict):
            for key in item:
                check_text(key, max_string=max_string, what="a key")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # With a repeated key, which value "wins" differs between parsers (and so between signer and reader).
    result = dict(pairs)
    if len(result) == len(pairs):
        return result
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise Rejected(f"duplicate key {key[:40]!a}")
        seen.add(key)
    raise AssertionError("unreachable: fewer keys than pairs means one repeats")


def _constant(name: str) -> Any:
    raise Rejected(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise Rejected(f"number {text[:40]} is out of range")
    return number


# Built once: json.loads with hooks builds a new decoder (and its scanner) on every call.
_DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_constant=_constant, parse_float=_finite)
