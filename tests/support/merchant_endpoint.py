"""A merchant's notify endpoint in a test: an aiohttp server on 127.0.0.1 that verifies each notification as a
merchant would (with the independent client's envelope code, not the platform's), records it, and answers as told:
acknowledge, fail the first N times, never answer, or answer the lenient `1|OK`.

Each path `/<name>` is one endpoint: `endpoint.url(name)` is what a merchant configures as its notify URL.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from shared.admin.publish import put_merchants
from shared.contracts.common import FeeKind, RefundFeeRule
from shared.merchants.model import MerchantRecord, Mode, NotifyAck, NotifySchedule
from shared.merchants.sealing import MerchantSecrets, seal
from shared.sandbox.aio import AIO_IV, AIO_KEY
from shared.sandbox.merchant import KEYS
from shared.settings import Settings
from tests.support.independent_client import check_mac_value, decrypt, encrypt


@dataclass(frozen=True)
class Received:
    at: float  # time.time() when it arrived
    merchant_id: str
    platform_id: str
    header_id: str  # the X-Notification-Id header
    data: dict[str, Any]  # the verified, decrypted Data

    @property
    def notification_id(self) -> str:
        return str(self.data["NotificationID"])


@dataclass
class Behaviour:
    fail_first: int = 0  # answer HTTP 500 to the first N notifications
    hang: bool = False  # never answer
    lenient: bool = False  # answer `1|OK` instead of the response envelope
    lose_first_ack: bool = False  # store the first notification, but its answer is lost (HTTP 502)
    calls: int = 0


@dataclass
class MerchantEndpoint:
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    received: dict[str, list[Received]] = field(default_factory=dict)
    # What the endpoint's own merchant system stored, deduplicated by NotificationID (as docs/notifications.md asks).
    stored: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    base: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]  # port 0: the system chose a free one
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, name: str, behaviour: Behaviour | None = None) -> str:
        self.behaviours[name] = behaviour or Behaviour()
        return f"{self.base}/{name}"

    async def wait_for(self, name: str, count: int, seconds: float = 20) -> list[Received]:
        return await self.wait_until(lambda: len(self.received.get(name, [])) >= count, seconds, name)

    async def wait_until(self, ready: Callable[[], bool], seconds: float, name: str = "") -> list[Received]:
        deadline = time.monotonic() + seconds
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"endpoint {name}: received {len(self.received.get(name, []))} after {seconds} s")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), min(left, 0.2))
            except TimeoutError:
                continue
        return list(self.received.get(name, []))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        behaviour = self.behaviours.setdefault(name, Behaviour())
        envelope = await request.json()
        merchant_id, platform_id = envelope["MerchantID"], envelope.get("PlatformID", "")
        key, iv = KEYS[platform_id or merchant_id]
        plaintext = decrypt(envelope["Data"], key, iv)
        assert hmac.compare_digest(check_mac_value(plaintext, key, iv), envelope["CheckMacValue"])
        data = json.loads(plaintext)
        seen = Received(time.time(), merchant_id, platform_id, request.headers.get("X-Notification-Id", ""), data)
        self.received.setdefault(name, []).append(seen)
        self.arrived.set()
        behaviour.calls += 1
        if behaviour.hang:
            await asyncio.sleep(3600)
        if behaviour.calls <= behaviour.fail_first:
            return web.Response(status=500, text="temporarily broken")
        self.stored.setdefault(name, {}).setdefault(seen.notification_id, data)
        if behaviour.lose_first_ack and behaviour.calls == 1:
            return web.Response(status=502, text="bad gateway")
        if behaviour.lenient:
            return web.Response(text="1|OK")
        return web.json_response(acknowledgement(merchant_id, platform_id, key, iv))


def acknowledgement(merchant_id: str, platform_id: str, key: str, iv: str) -> dict[str, Any]:
    """The ECTicket response envelope with RtnCode 1 in its Data (§4, §2.3), sealed with the same keys."""
    plaintext = json.dumps({"RtnCode": 1, "RtnMsg": "OK"}, separators=(",", ":"))
    return {
        **({"PlatformID": platform_id} if platform_id else {}),
        "MerchantID": merchant_id,
        "RpHeader": {"Timestamp": int(time.time())},
        "TransCode": 1,
        "TransMsg": "",
        "Data": encrypt(plaintext, key, iv),
        "CheckMacValue": check_mac_value(plaintext, key, iv),
    }


async def configure_notifications(
    settings: Settings,
    merchant_id: str,
    *,
    mode: Mode = Mode.SANDBOX,
    use_status_notify_url: str | None = None,
    refund_notify_url: str | None = None,
    ack: NotifyAck = NotifyAck.ENVELOPE,
    schedule: NotifySchedule = NotifySchedule.IMMEDIATE,
) -> None:
    """Publish a merchant of `tests.support.merchants.fresh_merchant` again, with notify URLs and options (its
    keys from KEYS, its other settings as fresh_merchant made them)."""
    key, iv = KEYS[merchant_id]
    keys = MerchantSecrets.model_validate(
        {"ticket_hash_key": key, "ticket_hash_iv": iv, "payment_hash_key": AIO_KEY, "payment_hash_iv": AIO_IV}
    )
    record = MerchantRecord(
        merchant_id=merchant_id,
        name=f"test merchant {merchant_id}",
        mode=mode,
        refund_fee_rule=RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000),
        refund_notify_url=refund_notify_url,
        use_status_notify_url=use_status_notify_url,
        notify_ack=ack,
        notify_schedule=schedule,
        secrets=seal(keys, merchant_id, settings.config_key_hex),
        updated_at=datetime.now(UTC),
    )
    await put_merchants(settings.kafka_bootstrap, [record])
