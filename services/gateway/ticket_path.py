"""POST /api/Ticket/<Operation> served on bare ASGI; every other request goes on to the starlette application.

The ticket path is the one that carries the load, and starlette's layers (its error and exception middleware,
routing, Request and Response objects) cost about 45 µs of CPU per request there, as much as reading the request
itself (docs/benchmarks.md, "HTTP gateway: CPU per request"). This path needs none of them: it reads a bounded
body, asks `answer` and sends a JSON body. What it answers is the same either way (tests/integration/
test_gateway*.py go through it); starlette still serves the rest, and a ticket path with another method (405).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "/api/Ticket/"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes  # JSON
    headers: dict[str, str] = field(default_factory=dict)


def json_answer(status: int, document: Any, headers: dict[str, str] | None = None) -> HttpAnswer:
    """`document` rendered as starlette's JSONResponse renders it (compact, UTF-8)."""
    text = json.dumps(document, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return HttpAnswer(status, text.encode(), headers or {})


class Disconnected(Exception):
    """The client went away before its body was read: there is nobody to answer."""


@dataclass
class TicketPath:
    answer: Callable[[str, bytes | None], Awaitable[HttpAnswer]]  # (operation, body or None when too large)
    max_body_bytes: int
    rest: Asgi  # everything that is not a POST to a ticket path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        operation = _ticket_operation(scope)
        if operation is None:
            await self.rest(scope, receive, send)
            return
        try:
            body = await _bounded_body(scope, receive, self.max_body_bytes)
            answer = await self.answer(operation, body)
        except Disconnected:
            return
        except Exception:  # as the starlette app's own handler: logged here, the caller learns only that it failed
            log.exception("POST %s failed", scope["path"])
            answer = json_answer(500, {"error": "internal error"})
        headers = [(name.lower().encode(), value.encode("latin-1")) for name, value in answer.headers.items()]
        headers += [(b"content-length", str(len(answer.body)).encode()), (b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})


def _ticket_operation(scope: Scope) -> str | None:
    """The <Operation> of a POST to /api/Ticket/<Operation> (one non-empty path segment, as starlette's route
    matches it), else None."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not path.startswith(PREFIX):
        return None
    operation = path[len(PREFIX) :]
    return operation if operation and "/" not in operation else None


async def _bounded_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to be over `limit` (a Content-Length saying so, or the bytes)."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            return None
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
