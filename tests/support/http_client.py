"""A merchant's ECTicket client over HTTP, independent of the gateway's code: the envelope is
tests/support/independent_client.py's (written from the API document alone and checked against its official
vectors), the transport plain aiohttp against `GATEWAY_URL`, as an unmodified ECTicket client would call ECPay."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support.independent_client import Reply, ReplyNotAuthentic, open_response, seal, seal_plaintext


def gateway_url() -> str:
    """Where the gateway listens: GATEWAY_URL, else GATEWAY_PORT on 127.0.0.1 (deploy/local/infra.sh's env)."""
    return os.environ.get("GATEWAY_URL") or f"http://127.0.0.1:{os.environ.get('GATEWAY_PORT', '8080')}"


@dataclass(frozen=True)
class Answer:
    """What came back over HTTP: the status, the headers, the body as text, and the opened reply if it is one."""

    status: int
    headers: dict[str, str]  # names in lower case
    text: str
    reply: Reply | None

    @property
    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class HttpMerchant:
    """A merchant (or a platform acting for one) calling `/api/Ticket/<Operation>` with sealed envelopes."""

    merchant_id: str
    hash_key: str
    hash_iv: str
    platform_id: str = ""
    base_url: str = field(default_factory=gateway_url)
    session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> HttpMerchant:
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *_: object) -> None:
        if self.session is not None:
            await self.session.close()

    def envelope(self, data: dict[str, Any] | str, *, timestamp: int | None = None) -> dict[str, Any]:
        """A sealed §2.2 envelope; `data` given as text is sealed verbatim (what a buggy client would send)."""
        now = timestamp if timestamp is not None else int(time.time())
        keys = (self.merchant_id, self.hash_key, self.hash_iv)
        if isinstance(data, str):
            return seal_plaintext(data, *keys, timestamp=now, platform_id=self.platform_id)
        return seal(data, *keys, timestamp=now, platform_id=self.platform_id)

    async def call(self, operation: str, data: dict[str, Any] | str, *, timestamp: int | None = None) -> Answer:
        return await self.post_json(f"/api/Ticket/{operation}", self.envelope(data, timestamp=timestamp))

    async def post_json(self, path: str, envelope: dict[str, Any]) -> Answer:
        return await self.post(path, json.dumps(envelope).encode())

    async def post(self, path: str, body: bytes, content_type: str = "application/json") -> Answer:
        assert self.session is not None, "use `async with`"
        headers = {"Content-Type": content_type, "Accept": "text/html"}  # §2.1's headers
        async with self.session.post(self.base_url + path, data=body, headers=headers) as response:
            text = await response.text()
            return Answer(response.status, _lower(response.headers), text, self._opened(response.status, text))

    async def get(self, path: str) -> Answer:
        assert self.session is not None, "use `async with`"
        async with self.session.get(self.base_url + path) as response:
            return Answer(response.status, _lower(response.headers), await response.text(), None)

    async def ok(self, operation: str, data: dict[str, Any], *, timestamp: int | None = None) -> dict[str, Any]:
        """The opened reply Data of a request (MerchantID added) that must be answered HTTP 200, TransCode 1."""
        answer = await self.call(operation, {"MerchantID": self.merchant_id, **data}, timestamp=timestamp)
        assert answer.status == 200, answer
        assert answer.reply is not None and answer.reply.trans_code == 1 and answer.reply.data is not None, answer
        return answer.reply.data

    async def issued(self, number: dict[str, str], seconds: float = 30) -> dict[str, Any]:
        """QueryIssueResult until the order is no longer processing (Status 3): an Issue reply may only accept it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            result = await self.ok("QueryIssueResult", number)
            if result["Status"] != 3 or loop.time() > deadline:
                return result
            await asyncio.sleep(0.2)

    async def gift_tickets(self, item_no: str, count: int) -> list[dict[str, Any]]:
        """`count` new gift vouchers of `item_no` (FreeTradeNo order, no payment): their QueryIssueResult lines."""
        trade_no = ("GT" + uuid.uuid4().hex)[:20].upper()
        lines = [{"ItemNo": item_no, "TicketAmount": count}]
        issue = {"FreeTradeNo": trade_no, "IssueType": "3", "Operator": "http", "TicketInfo": lines}
        assert (await self.ok("Issue", issue))["RtnCode"] == 1
        result = await self.issued({"FreeTradeNo": trade_no})
        assert result["Status"] == 1, result
        tickets: list[dict[str, Any]] = result["TicketList"]
        return tickets

    def _opened(self, status: int, text: str) -> Reply | None:
        """The §2.3 reply opened with our keys, when the body is one."""
        if status not in (200, 400, 413):
            return None
        try:
            envelope = json.loads(text)
        except ValueError:
            return None
        if not isinstance(envelope, dict) or "TransCode" not in envelope:
            return None
        try:
            return open_response(envelope, self.hash_key, self.hash_iv)
        except (ReplyNotAuthentic, ValueError):  # sealed with keys other than ours (a caller with the wrong keys)
            return None


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}
