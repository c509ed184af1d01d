"""The merchants' notify endpoints, an outside system: one POST per attempt, bounded in time and size.

Two aiohttp sessions: production merchants' through a resolver that refuses any host name resolving to an address
the allow-list rule forbids (`domain/targets.py`), checked on the very addresses the connection then uses; sandbox
merchants' through the ordinary resolver. Redirects are not followed (a redirect could point anywhere).
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Protocol

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from services.notification.domain.acks import MAX_ACK_BYTES
from services.notification.domain.targets import address_allowed


@dataclass(frozen=True)
class Answered:
    status: int
    body: bytes
    seconds: float


@dataclass(frozen=True)
class Unreachable:
    detail: str
    seconds: float
    refused: bool = False  # the target itself is forbidden (not retried: it will not get better by itself)


class Endpoints(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str], sandbox: bool) -> Answered | Unreachable: ...


class TargetForbidden(OSError):
    """A host name resolved to an address production merchants may not be notified at."""


class CheckingResolver(AbstractResolver):
    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        # Every address must pass, not just one: the connector may try any of them.
        forbidden = [r["host"] for r in found if not address_allowed(r["host"], sandbox=False)]
        if forbidden:
            raise TargetForbidden(f"{host} resolves to {forbidden[0]}, not a public address")
        return found

    async def close(self) -> None:
        await self._inner.close()


class HttpEndpoints:
    def __init__(self, timeout_seconds: float, max_connections: int) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._production = _session(CheckingResolver(), max_connections)
        self._sandbox = _session(DefaultResolver(), max_connections)

    async def post(self, url: str, body: bytes, headers: dict[str, str], sandbox: bool) -> Answered | Unreachable:
        session = self._sandbox if sandbox else self._production
        started = time.perf_counter()
        try:
            async with session.post(
                url, data=body, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as response:
                answer = await _body(response)
                return Answered(response.status, answer, time.perf_counter() - started)
        except TimeoutError:
            return Unreachable(f"no answer within {self._timeout.total:g} s", time.perf_counter() - started)
        except aiohttp.ClientConnectorError as exc:
            forbidden = isinstance(exc.os_error, TargetForbidden)
            detail = str(exc.os_error) if forbidden else f"cannot connect: {exc.os_error.strerror or exc.os_error!r}"
            return Unreachable(detail, time.perf_counter() - started, refused=forbidden)
        except (aiohttp.ClientError, OSError) as exc:
            return Unreachable(f"{type(exc).__name__}: {exc}"[:300], time.perf_counter() - started)

    async def close(self) -> None:
        await self._production.close()
        await self._sandbox.close()


async def _body(response: aiohttp.ClientResponse) -> bytes:
    """The answer up to one byte past the limit (enough to tell it is too long); `read(n)` alone may return just
    the first chunk of a body that arrives in several."""
    body = bytearray()
    while len(body) <= MAX_ACK_BYTES:
        chunk = await response.content.read(MAX_ACK_BYTES + 1 - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


def _session(resolver: AbstractResolver, max_connections: int) -> aiohttp.ClientSession:
    # limit_per_host=0: many merchants may share a host (a hosting provider); fairness between merchants is the
    # delivery loop's per-merchant bound, not the connector's.
    connector = aiohttp.TCPConnector(resolver=resolver, limit=max_connections, limit_per_host=0, ttl_dns_cache=60)
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)
