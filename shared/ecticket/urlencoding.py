"""The URL-encoding variants that ECTicket and AIO checksums depend on.

The CheckMacValue is taken over the *encoded* (then lower-cased) text, so encoders that disagree on a single
character produce different digests (spec §2.6). Each variant is therefore spelled out byte for byte here
rather than borrowed from ``urllib.parse.quote``, whose safe set (it keeps ``~``) matches none of PHP's
``urlencode`` exactly.

All encoders work on the UTF-8 bytes of the text and emit upper-case hex, like their originals.
"""

from __future__ import annotations

import functools
import string
from collections.abc import Callable
from urllib.parse import unquote_to_bytes

from yarl._quoting import _Quoter

__all__ = [
    "Encoder",
    "js_encode_uri_component",
    "lenient_urldecode",
    "php_to_js",
    "php_to_rfc3986",
    "php_urlencode",
    "rfc3986_encode",
]

Encoder = Callable[[str], str]
"""A function that URL-encodes a whole string."""

_ALNUM = frozenset((string.ascii_letters + string.digits).encode("ascii"))
# PHP urlencode: RFC 1738 style, only alphanumerics and "-_." survive; space is the special case "+".
_PHP_SAFE = _ALNUM | frozenset(b"-_.")
# RFC 3986 unreserved set, which is exactly what .NET Uri.EscapeDataString leaves alone.
_RFC3986_SAFE = _ALNUM | frozenset(b"-_.~")
# ECMAScript encodeURIComponent leaves the RFC 2396 "mark" characters as well.
_JS_SAFE = _ALNUM | frozenset(b"-_.!~*'()")

_SPACE = 0x20


def _percent_encode(text: str, safe: frozenset[int], *, space_as_plus: bool) -> str:
    # Latin-1 maps each UTF-8 byte to the code point of the same number, so str.translate (a loop in C) can
    # replace every byte by its encoding: about twice as fast as joining a lookup per byte, and every request and
    # reply is encoded at least once.
    return text.encode("utf-8").decode("latin-1").translate(_table(safe, space_as_plus))


@functools.cache
def _table(safe: frozenset[int], space_as_plus: bool) -> dict[int, str]:
    """What each byte becomes: itself if safe, "+" for a space if asked, else %XX (upper-case hex)."""
    return {
        byte: chr(byte) if byte in safe else "+" if byte == _SPACE and space_as_plus else f"%{byte:02X}"
        for byte in range(256)
    }


def _plain_php_urlencode(text: str) -> str:
    return _percent_encode(text, _PHP_SAFE, space_as_plus=True)


# yarl's form quoter (C, already here with aiohttp) percent-encodes about five times faster than str.translate, and
# every request and reply goes through PHP urlencode at least twice (Data and checksum): a tenth of the query
# service's time at 500 queries/s. It leaves these characters alone, which PHP escapes; put back in order, each is
# itself in its output (every escape it writes is "%" and two hex digits, and "%" itself becomes "%25").
_LEFT_BY_YARL = tuple((c, f"%{ord(c):02X}") for c in "!$'()*,~")
_yarl_form_quote = _Quoter(safe="", qs=True, requote=False)


def _yarl_php_urlencode(text: str) -> str:
    text.encode("utf-8")  # a lone surrogate raises, as in the plain encoder (yarl would drop it silently)
    encoded: str = _yarl_form_quote(text)
    for char, escape in _LEFT_BY_YARL:
        encoded = encoded.replace(char, escape)
    return encoded


def _agrees(fast: Encoder, plain: Encoder) -> bool:
    """A private API of a dependency may change: the fast path is taken only if it encodes every byte value and
    some multi-byte characters exactly as the plain one (checked once, at import)."""
    probe = "".join(chr(c) for c in range(256)) + "漢字 😀 %7E+%2B %zz"
    try:
        return fast(probe) == plain(probe)
    except Exception:
        return False


_php_urlencode = _yarl_php_urlencode if _agrees(_yarl_php_urlencode, _plain_php_urlencode) else _plain_php_urlencode


def php_urlencode(text: str) -> str:
    """PHP ``urlencode``: space → ``+``, ``~`` → ``%7E``, everything but ``[A-Za-z0-9-_.]`` escaped."""
    return _php_urlencode(text)


def rfc3986_encode(text: str) -> str:
    """RFC 3986 / .NET ``Uri.EscapeDataString``: space → ``%20``, ``-_.~`` left as is."""
    return _percent_encode(text, _RFC3986_SAFE, space_as_plus=False)


def js_encode_uri_component(text: str) -> str:
    """JavaScript ``encodeURIComponent``: space → ``%20``, ``-_.!~*'()`` left as is."""
    return _percent_encode(text, _JS_SAFE, space_as_plus=False)


def php_to_rfc3986(php_encoded: str) -> str:
    """`rfc3986_encode` of a text, from its `php_urlencode` (about fifty times cheaper than encoding again).

    Every escape PHP emits is "%" and two hex digits, and a literal "%" or "+" is itself escaped, so a "+" can
    only be a space and "%7E" only a tilde: replacing them cannot touch any other character's escape."""
    return php_encoded.replace("+", "%20").replace("%7E", "~")


def php_to_js(php_encoded: str) -> str:
    """`js_encode_uri_component` of a text, from its `php_urlencode` (as `php_to_rfc3986`, plus the marks)."""
    rfc = php_to_rfc3986(php_encoded)
    return rfc.replace("%21", "!").replace("%2A", "*").replace("%27", "'").replace("%28", "(").replace("%29", ")")


def lenient_urldecode(encoded: str | bytes) -> str:
    """Decode the output of any of the encoders above (spec §2.4 notes, §2.6).

    ``+`` and ``%20`` both become a space and hex digits may be in either case, because ECTicket clients
    differ on both. A ``%`` not followed by two hex digits is kept literally (as PHP ``urldecode`` does).
    The decoded bytes must be valid UTF-8: ``UnicodeDecodeError`` (a ``ValueError``) is raised otherwise.
    """
    raw = encoded.encode("utf-8") if isinstance(encoded, str) else encoded
    # A literal "+" is always sent as "%2B" by every encoder, so any bare "+" can only mean a space.
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")
