"""The processor's HTTP API (docs/money-trust.md, "Processor simulator HTTP API"): parse -> one transaction ->
answer. A checkout records its trades and, in the same transaction, the AIO results to deliver (outbox rows the
relay publishes on ecticket.ingest.payments.v1, keyed by MerchantID, until Kafka has them): a payment recorded
is never left undelivered, and one delivered is on record."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from aiohttp import web

from deploy.simulators.processor import store
from deploy.simulators.processor.trades import (
    Checkout,
    Invalid,
    Trade,
    parse_after,
    parse_checkouts,
    parse_day,
    parse_order,
    parse_orders,
    query_row,
    recon_csv,
    result_fields,
)
from shared import bounded_json
from shared.clock import Clock, end_of_business_day, start_of_business_day
from shared.contracts.events import Outgoing
from shared.ecticket.authentication import MerchantSource
from shared.ecticket.processor_query import MAX_QUERY_ORDERS, ProcessorCredentials, query_mac, verify_query_mac
from shared.ids import derived_id
from shared.infra import outbox
from shared.infra.faults import is_transient
from shared.merchants.model import Merchant
from shared.sandbox.aio import as_json
from shared.topics import INGEST_PAYMENTS

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 8 * 1024 * 1024  # a bulk checkout of MAX_CHECKOUTS orders is about 2 MB
DELIVERY_TYPE = "AioPaymentResult"  # the outbox row's event_type (a Kafka header); the body is the raw AIO result
AGAIN_RACE_ATTEMPTS = 5  # two charges Again of one order at once: the loser tries again (store._charge_again)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Refused(Exception):
    """A request the processor answers with `status` and {"error": message} (a malformed one is `Invalid`: 400)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ProcessorApi:
    pool: asyncpg.Pool  # on the payment_processor schema
    clock: Clock
    merchants: MerchantSource  # enabled or not: the platform disabling a merchant does not stop its card payments
    credentials: ProcessorCredentials

    def application(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[_errors])
        app.router.add_post("/checkout", self.checkout)
        app.router.add_post("/capture", self.capture)
        app.router.add_post("/Cashier/QueryTradeInfo/Batch", self.query)
        app.router.add_get("/recon/{day}", self.recon)
        return app

    async def checkout(self, request: web.Request) -> web.Response:
        checkouts, many = parse_checkouts(await _json(request))
        keys = {m: _payment_keys(await self._merchant(m)) for m in {c.merchant_id for c in checkouts}}
        dated = [(c, self._payment_date(c)) for c in checkouts]
        for attempt in range(AGAIN_RACE_ATTEMPTS):
            try:
                results = await self._record(dated, keys)
                break
            except asyncpg.UniqueViolationError:
                if attempt == AGAIN_RACE_ATTEMPTS - 1:
                    raise
        return web.json_response(results if many else results[0])

    async def _record(
        self, dated: Sequence[tuple[Checkout, datetime]], keys: dict[str, tuple[str, str]]
    ) -> list[dict[str, str]]:
        async with self.pool.acquire() as conn, conn.transaction():
            trades = await store.record(conn, dated, self.clock.now())
            results = [result_fields(t, *keys[t.merchant_id]) for t in trades]
            deliveries = [
                _delivery(t, fields) for (c, _), t, fields in zip(dated, trades, results, strict=True) if c.deliver
            ]
            await outbox.append(conn, store.SCHEMA, deliveries)
        return results

    async def capture(self, request: web.Request) -> web.Response:
        document = await _json(request)
        if not isinstance(document, dict):
            raise Invalid('the body must be {"MerchantID", "MerchantTradeNo"}')
        order = parse_order(document)
        async with self.pool.acquire() as conn, conn.transaction():
            trades = await store.capture(conn, order, self.clock.now())
        if not trades:
            raise Refused(404, f"no trade for order {order.merchant_id}/{order.merchant_trade_no}")
        return web.json_response([query_row(t) for t in trades])

    async def query(self, request: web.Request) -> web.Response:
        """The platform's batched trade query, signed both ways with the platform's processor credentials."""
        document = await _json(request)
        key, iv = self.credentials
        if not isinstance(document, dict) or not verify_query_mac(document, key, iv):
            raise Refused(401, "CheckMacValue does not match the platform's processor keys")
        if not isinstance(document.get("PlatformID"), str) or not isinstance(document.get("TimeStamp"), int):
            raise Invalid("a query needs PlatformID (text) and TimeStamp (unix seconds)")
        orders = parse_orders(document.get("Orders"), MAX_QUERY_ORDERS)
        async with self.pool.acquire() as conn:
            trades = await store.trades_of(conn, orders)
        answer: dict[str, object] = {
            "TimeStamp": int(self.clock.now().timestamp()),
            "Trades": [query_row(t) for t in trades],
        }
        answer["CheckMacValue"] = query_mac(answer, key, iv)
        return web.json_response(answer)

    async def recon(self, request: web.Request) -> web.Response:
        """The captured trades of an Asia/Taipei day (real time), as CSV; `after` skips the Seqs already read."""
        day = parse_day(request.match_info["day"])
        after = parse_after(request.query.get("after"))
        async with self.pool.acquire() as conn:
            trades = await store.captured_between(conn, start_of_business_day(day), end_of_business_day(day), after)
        return web.Response(text=recon_csv(trades), content_type="text/csv")

    async def _merchant(self, merchant_id: str) -> Merchant:
        merchant = await self.merchants.lookup(merchant_id)
        if merchant is None:
            raise Refused(404, f"MerchantID {merchant_id} is not a merchant of this processor")
        return merchant

    def _payment_date(self, checkout: Checkout) -> datetime:
        """PaymentDate as asked, else now on the merchant's clock (a sandbox test clock may run ahead), to the second
        (AIO writes whole seconds; the query must answer exactly what the result said)."""
        return checkout.payment_date or self.clock.now(checkout.merchant_id).replace(microsecond=0)


def _payment_keys(merchant: Merchant) -> tuple[str, str]:
    secrets = merchant.secrets
    return secrets.payment_hash_key.get_secret_value(), secrets.payment_hash_iv.get_secret_value()


def _delivery(trade: Trade, fields: dict[str, str]) -> Outgoing:
    """The result as ECPay would post it to the ReturnURL, once per trade (its id is the trade's): a second checkout
    of the same order finds it in the outbox already."""
    event_id = derived_id(f"payment-processor/{trade.trade_no}", "return-url")
    return Outgoing.serialised(INGEST_PAYMENTS, trade.merchant_id, event_id, DELIVERY_TYPE, as_json(fields))


async def _json(request: web.Request) -> Any:
    try:
        return bounded_json.loads(await request.read(), max_bytes=MAX_BODY_BYTES)
    except bounded_json.Rejected as exc:
        raise Invalid(f"the body is not acceptable JSON: {exc}") from None


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals as JSON {"error"}; a database that is restarting is 503 (try again), not a failure."""
    try:
        return await handler(request)
    except Invalid as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except Refused as exc:
        return web.json_response({"error": str(exc)}, status=exc.status)
    except web.HTTPException:
        raise  # aiohttp's own answers: no such route, a body over the size limit
    except Exception as exc:
        if not is_transient(exc):
            log.exception("%s %s failed", request.method, request.path)
            return web.json_response({"error": "internal error"}, status=500)
        log.warning("%s %s: %r; answered 503", request.method, request.path, exc)
        return web.json_response({"error": "the processor cannot reach its database; try again"}, status=503)
