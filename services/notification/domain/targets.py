"""Which URLs the platform may call (the allow-list rule), so it cannot be made to forge requests to itself.

Sandbox merchants may use any http(s) URL, localhost included (how merchants and the tests try the platform out).
Production merchants need https and a public address: no loopback, private (RFC 1918, unique local), link-local
(cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved or unspecified address, for an IP
literal here and for every address a host name resolves to (checked by the HTTP client's resolver on the very
addresses it connects to, so a DNS answer cannot change between check and connection).
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_URL_CHARS = 2048
_CGNAT = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class Target:
    url: str
    host: str
    ip_literal: bool


@dataclass(frozen=True)
class Refused:
    reason: str


@functools.lru_cache(maxsize=4096)  # a merchant's URL is checked again on every notification it gets
def check_url(url: str, sandbox: bool) -> Target | Refused:
    if len(url) > MAX_URL_CHARS:
        return Refused(f"notify URL longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number or out of range
    except ValueError as exc:
        return Refused(f"notify URL is not a URL: {exc}")
    allowed_schemes = ("http", "https") if sandbox else ("https",)
    if parts.scheme not in allowed_schemes:
        return Refused(f"notify URL scheme must be {' or '.join(allowed_schemes)}")
    host = parts.hostname
    if not host:
        return Refused("notify URL has no host")
    if parts.username is not None or parts.password is not None:
        return Refused("notify URL must not carry credentials")
    literal = _ip(host)
    if literal is not None and not sandbox and not public(literal):
        return Refused(f"notify URL host {host} is not a public address")
    return Target(url, host, literal is not None)


def address_allowed(address: str, sandbox: bool) -> bool:
    """May a connection go to this resolved address?"""
    if sandbox:
        return True
    ip = _ip(address)
    return ip is not None and public(ip)


def public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return public(ip.ipv4_mapped)  # ::ffff:127.0.0.1 is loopback too
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # an IPv6 zone id ("fe80::1%eth0") is not the address
    except ValueError:
        return None
