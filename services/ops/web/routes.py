"""GET / (the page), /api/summary, /api/merchants/{id}, /api/orders/{trade_no}, /api/search, /api/stream (SSE)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import faust
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

if TYPE_CHECKING:
    from services.ops.runtime import OpsRuntime

PAGE = (Path(__file__).parent / "page.html").read_text()
HEARTBEAT_SECONDS = 15.0
# At most this many updates a second per page: a flood of batches must not turn into a flood of redraws.
MIN_UPDATE_GAP_SECONDS = 0.25


def register(app: faust.App, runtime: OpsRuntime) -> None:
    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def summary(_: web.Request) -> web.Response:
        return web.json_response(runtime.summary())

    async def merchant(request: web.Request) -> web.Response:
        found = runtime.merchant(request.match_info["merchant_id"])
        return web.json_response(found) if found else _not_found("no events of this merchant")

    async def orders(request: web.Request) -> web.Response:
        found = runtime.orders(request.match_info["trade_no"], request.query.get("merchant"))
        return web.json_response({"orders": found}) if found else _not_found("no events of this order")

    async def search(request: web.Request) -> web.Response:
        """A MerchantID or an order number (each merchant's own)."""
        q = request.query.get("q", "").strip()
        found = runtime.merchant(q) if q else None
        if found is not None:
            return web.json_response({"merchant": found, "orders": []})
        matches = runtime.orders(q) if q else []
        return web.json_response({"merchant": None, "orders": matches}) if matches else _not_found("nothing found")

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        version = -1
        while not runtime.stopping.is_set():
            if version != runtime.live.version:
                version = runtime.live.version
                await response.write(f"data: {json.dumps(runtime.summary())}\n\n".encode())
                await asyncio.sleep(MIN_UPDATE_GAP_SECONDS)
            elif not await runtime.live.changed_since(version, HEARTBEAT_SECONDS):
                await response.write(b": still here\n\n")
        return response

    async def metrics(_: web.Request) -> web.Response:
        """The ops process's own Prometheus metrics, on the dashboard's port (every service has /metrics)."""
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    router = cast(Any, app.web).web_app.router  # faust's aiohttp driver: its Application
    router.add_get("/", page)
    router.add_get("/api/summary", summary)
    router.add_get("/api/merchants/{merchant_id}", merchant)
    router.add_get("/api/orders/{trade_no}", orders)
    router.add_get("/api/search", search)
    router.add_get("/api/stream", stream)
    router.add_get("/metrics", metrics)


def _not_found(reason: str) -> web.Response:
    body: dict[str, Any] = {"error": reason}
    return web.json_response(body, status=404)
