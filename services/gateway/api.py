"""The HTTP surface (starlette): the twelve ECTicket paths, the AIO payment webhook, health, the OpenAPI document.

Only HTTP concerns live here (body size, rate, paths, status codes); every ECTicket decision is the owning
service's, relayed as it made it (relay.py)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from services.gateway import store
from services.gateway.config import GatewayConfig
from services.gateway.domain import payment_results
from services.gateway.domain.rate import RateLimiter
from services.gateway.inbound import OPERATIONS, Malformed, forward
from services.gateway.openapi import document
from services.gateway.outbound import PAYMENT_ACCEPTED, malformed, payment_refused
from services.gateway.relay import NoReply, Relay
from services.gateway.ticket_path import HttpAnswer, TicketPath, json_answer
from shared.ecticket.authentication import MerchantSource

log = logging.getLogger(__name__)

JSON = "application/json"


class TooLarge(Exception):
    pass


@dataclass
class GatewayApi:
    config: GatewayConfig
    relay: Relay
    merchants: MerchantSource  # every merchant the platform knows, enabled or not (payment webhook)
    limiter: RateLimiter = field(init=False)
    accepting: bool = True  # False while draining: readiness says so, so a balancer sends no more

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.config.rate_per_second, self.config.rate_burst)

    def application(self) -> TicketPath:
        """The ticket paths on bare ASGI (the load), the rest on starlette."""
        routes = [
            Route("/api/Ticket/{operation}", self.ticket, methods=["POST"]),
            Route("/payment/ecpay/return", self.payment_return, methods=["POST"]),
            Route("/health", self.health, methods=["GET"]),
            Route("/ready", self.ready, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
        ]
        handlers = {HTTPException: _http_error, Exception: _internal_error}
        rest = Starlette(routes=routes, exception_handlers=handlers)
        return TicketPath(self.ticket_answer, self.config.max_body_bytes, rest)

    async def ticket(self, request: Request) -> Response:
        """Reached only by what the bare ticket path hands on (ticket_path.py): a POST is answered there."""
        try:
            body: bytes | None = await _body(request, self.config.max_body_bytes)
        except TooLarge:
            body = None
        return _response(await self.ticket_answer(request.path_params["operation"], body))

    async def ticket_answer(self, operation: str, body: bytes | None) -> HttpAnswer:
        """The answer to a POST of `body` (None: over the size limit) to /api/Ticket/`operation`."""
        if operation not in OPERATIONS:
            return _error(404, f"no such path: ECTicket operations are {', '.join(sorted(OPERATIONS))}")
        now = int(time.time())
        if body is None:
            reason = f"the request body exceeds {self.config.max_body_bytes} bytes"
            return json_answer(413, malformed(reason, "", now))
        decision = forward(self.config.request_id_secret, operation, body)
        if isinstance(decision, Malformed):
            return json_answer(400, malformed(decision.reason, decision.merchant_id, now))
        if not self.limiter.allow(decision.merchant_id, time.monotonic()):
            retry = self.limiter.retry_after(decision.merchant_id)
            return _error(403, "too many requests for this MerchantID: slow down", {"Retry-After": str(retry)})
        answer = await self.relay.answer(decision)
        if isinstance(answer, NoReply):
            return _error(answer.status, answer.reason, {"X-Request-Id": decision.request_id})
        headers = {"X-Request-Id": decision.request_id}
        if answer.replayed:
            headers["X-Replayed"] = "true"
        return HttpAnswer(200, answer.response.encode(), headers)

    async def payment_return(self, request: Request) -> Response:
        try:
            body = await _body(request, payment_results.MAX_BODY_BYTES)
            fields = payment_results.read(body)
        except TooLarge:
            return PlainTextResponse(payment_refused("the body is too large"), status_code=413)
        except payment_results.NotAPaymentResult as exc:
            return PlainTextResponse(payment_refused(str(exc)), status_code=400)
        merchant = await self.merchants.lookup(fields["MerchantID"])
        if merchant is None:
            return PlainTextResponse(payment_refused("MerchantID is not a merchant of the platform"), status_code=400)
        keys = merchant.secrets
        key, iv = keys.payment_hash_key.get_secret_value(), keys.payment_hash_iv.get_secret_value()
        if not payment_results.signed_by(fields, key, iv):
            return PlainTextResponse(payment_refused("CheckMacValue does not match"), status_code=400)
        if not await self.relay.put_payment(body.strip(), fields["MerchantID"]):
            return PlainTextResponse(payment_refused("not accepted now; send it again later"), status_code=503)
        return PlainTextResponse(PAYMENT_ACCEPTED)

    async def health(self, _request: Request) -> Response:
        """Liveness: the process answers."""
        return JSONResponse({"status": "alive"})

    async def ready(self, _request: Request) -> Response:
        """Readiness: accepting requests, the reply tail running and the database answering."""
        checks = {"accepting": self.accepting, "reply_tail": self.relay.tail.running}
        try:
            checks["database"] = await store.database_answers(self.relay.pool)
        except Exception:
            checks["database"] = False
        ready = all(checks.values())
        return JSONResponse({"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503)

    async def openapi(self, _request: Request) -> Response:
        return JSONResponse(document())


async def _body(request: Request, limit: int) -> bytes:
    """The body, refused as soon as it is known to be over `limit` (a Content-Length saying so, or the bytes)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise TooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> HttpAnswer:
    return json_answer(status, {"error": message}, headers)


def _response(answer: HttpAnswer) -> Response:
    return Response(answer.body, status_code=answer.status, media_type=JSON, headers=answer.headers)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "no such path" if exc.status_code == 404 else str(exc.detail)
    return _response(_error(exc.status_code, message, dict(exc.headers or {})))


async def _internal_error(request: Request, exc: Exception) -> Response:
    """Logged with its traceback here; the caller learns only that it failed (never a trace, a key or a body)."""
    log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return _response(_error(500, "internal error"))
