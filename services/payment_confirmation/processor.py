"""The payment processor's batched trade query, as payment-confirmation asks it (docs/money-trust.md).

`TradeQuery` is the port the verifier (timers.py) depends on; `HttpTradeQuery` is the adapter behind it:
`POST {PROCESSOR_URL}/Cashier/QueryTradeInfo/Batch`, signed with the platform's processor credentials, one
aiohttp session per process. `read_answer` (pure) accepts an answer only when its CheckMacValue verifies with
those credentials and every trade in it is well formed. Anything else, an unreachable processor, an HTTP status
other than 200, a timeout, a bad signature, a malformed answer, is `ProcessorUnavailable`: the processor said
nothing usable, so nothing is decided on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from services.payment_confirmation.domain.aio_fields import parse_aio_time
from services.payment_confirmation.domain.verification import ProcessorTrade
from shared.ecticket.processor_query import ProcessorCredentials, query_mac, verify_query_mac

QUERY_PATH = "/Cashier/QueryTradeInfo/Batch"
# A thousand orders with a trade or two each is about 0.5 MB; a larger answer is a broken processor, not news.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
_TEXT_FIELDS = ("MerchantID", "MerchantTradeNo", "TradeNo", "TradeStatus", "PaymentType", "PaymentDate")


class ProcessorUnavailable(Exception):
    """The processor gave no usable answer (unreachable, not HTTP 200, timeout, bad signature, malformed)."""


class TradeQuery(Protocol):
    async def trades(self, orders: Sequence[tuple[str, str]]) -> list[ProcessorTrade]:
        """Every trade the processor holds for each (MerchantID, MerchantTradeNo); ProcessorUnavailable if it
        cannot say."""
        ...


def signed_query(
    orders: Sequence[tuple[str, str]], platform_id: str, timestamp: int, credentials: ProcessorCredentials
) -> dict[str, Any]:
    query: dict[str, Any] = {
        "PlatformID": platform_id,
        "TimeStamp": timestamp,
        "Orders": [{"MerchantID": m, "MerchantTradeNo": o} for m, o in orders],
    }
    query["CheckMacValue"] = query_mac(query, *credentials)
    return query


def read_answer(body: bytes, credentials: ProcessorCredentials) -> list[ProcessorTrade]:
    """The trades of a signed answer; ProcessorUnavailable unless it is signed with the platform's credentials
    and well formed (a trade the platform cannot read is not evidence either way)."""
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ProcessorUnavailable(f"the answer is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ProcessorUnavailable("the answer is not a JSON object")
    if not verify_query_mac(document, *credentials):
        raise ProcessorUnavailable("the answer's CheckMacValue does not verify with the platform's processor keys")
    rows = document.get("Trades")
    if not isinstance(rows, list):
        raise ProcessorUnavailable("the answer has no Trades list")
    trades = [_trade(row) for row in rows]
    if len({(t.merchant_id, t.merchant_trade_no, t.trade_no) for t in trades}) < len(trades):
        raise ProcessorUnavailable("the answer lists a trade twice")
    return trades


def _trade(row: object) -> ProcessorTrade:
    if not isinstance(row, dict) or not all(isinstance(row.get(name), str) for name in _TEXT_FIELDS):
        raise ProcessorUnavailable(f"a trade without its text fields: {str(row)[:200]}")
    amount = row.get("TradeAmt")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ProcessorUnavailable(f"TradeNo {row['TradeNo'][:20]}: TradeAmt is not a whole number")
    try:
        paid_at = parse_aio_time(row["PaymentDate"])
    except ValueError as exc:
        raise ProcessorUnavailable(f"TradeNo {row['TradeNo'][:20]}: {exc}") from None
    return ProcessorTrade(
        merchant_id=row["MerchantID"],
        merchant_trade_no=row["MerchantTradeNo"],
        trade_no=row["TradeNo"],
        amount=amount,
        status=row["TradeStatus"],
        payment_type=row["PaymentType"],
        payment_date=paid_at,
    )


@dataclass
class HttpTradeQuery:
    """The trade query over HTTP: one session for the process (its connections are reused), a deadline per query."""

    url: str
    platform_id: str
    credentials: ProcessorCredentials
    timeout_seconds: float
    _session: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    async def trades(self, orders: Sequence[tuple[str, str]]) -> list[ProcessorTrade]:
        query = signed_query(orders, self.platform_id, int(time.time()), self.credentials)
        try:
            async with self._client().post(self.url + QUERY_PATH, json=query) as response:
                body = await _bounded_body(response)
                if response.status != 200:
                    text = body[:200].decode(errors="replace")
                    raise ProcessorUnavailable(f"the trade query got HTTP {response.status}: {text}")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProcessorUnavailable(f"the trade query failed: {type(exc).__name__}: {exc}") from exc
        return read_answer(body, self.credentials)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running event loop that it belongs to.
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_seconds))
        return self._session


async def _bounded_body(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise ProcessorUnavailable(f"the answer exceeds {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
