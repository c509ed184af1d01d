"""Paying in the sandbox: a consumer's checkout at the payment-processor simulator (docs/money-trust.md).

The processor records the trade and, unless told not to (`deliver=False`), delivers the AIO result to the platform
itself, as ECPay posts it to a merchant's ReturnURL: the same verified path a production payment takes. With
`deliver=False` the caller gets the genuine, signed result to publish when it likes (a benchmark's timed window)
or to alter (a test of a forged result). Used by the demo, the benchmark, the tests and the processor's CLI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import aiohttp

from shared.ecticket.processor_query import MAX_QUERY_ORDERS, ProcessorCredentials, processor_credentials, query_mac
from shared.infra.faults import Backoff
from shared.sandbox.aio import aio_time

BULK_CHUNK = 2000  # checkouts per request of a bulk checkout (the processor takes up to 10,000)
# How long a call keeps trying while the processor is unreachable or its database restarts (HTTP 503).
PATIENCE_SECONDS = 30.0
TIMEOUT = aiohttp.ClientTimeout(total=120)


class ProcessorError(Exception):
    """The processor refused a call (status 4xx) or kept failing (5xx, unreachable) for PATIENCE_SECONDS."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"payment processor answered {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Checkout:
    """One consumer payment: an order's amount, paid now (or at `paid_at`), captured and delivered unless not."""

    merchant_id: str
    trade_no: str  # the merchant's order number (MerchantTradeNo)
    amount: int
    paid_at: datetime | None = None  # PaymentDate; None: now on the merchant's clock
    payment_type: str | None = None  # None: Credit_CreditCard
    capture: bool = True  # False: authorised only (TradeStatus 0) until `capture`
    deliver: bool = True  # False: the processor only answers the result; nobody publishes it
    again: bool = False  # True: a second, genuine trade for an order that has one (a double charge)

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {
            "MerchantID": self.merchant_id,
            "MerchantTradeNo": self.trade_no,
            "TotalAmount": self.amount,
            "Capture": self.capture,
            "Deliver": self.deliver,
            "Again": self.again,
        }
        if self.paid_at is not None:
            body["PaymentDate"] = aio_time(self.paid_at)
        if self.payment_type is not None:
            body["PaymentType"] = self.payment_type
        return body


async def checkout(
    url: str,
    merchant_id: str,
    trade_no: str,
    amount: int,
    *,
    paid_at: datetime | None = None,
    payment_type: str | None = None,
    capture: bool = True,
    deliver: bool = True,
    again: bool = False,
) -> dict[str, str]:
    """Pay for an order at the processor at `url`; the AIO result it recorded (and delivered, if `deliver`)."""
    paying = Checkout(merchant_id, trade_no, amount, paid_at, payment_type, capture, deliver, again)
    result = await _call(url, "POST", "/checkout", paying.body(), retry=not again)
    assert isinstance(result, dict), result
    return result


async def checkout_many(url: str, checkouts: Sequence[Checkout], *, chunk: int = BULK_CHUNK) -> list[dict[str, str]]:
    """Many checkouts in few requests (bulk, for benchmarks); their results in the same order."""
    results: list[dict[str, str]] = []
    for start in range(0, len(checkouts), chunk):
        part = checkouts[start : start + chunk]
        answer = await _call(url, "POST", "/checkout", [c.body() for c in part], retry=not any(c.again for c in part))
        assert isinstance(answer, list) and len(answer) == len(part), answer
        results += answer
    return results


async def capture(url: str, merchant_id: str, trade_no: str) -> list[dict[str, Any]]:
    """Capture the order's authorised trade(s) now; every trade of the order, as the trade query shows them."""
    answer = await _call(url, "POST", "/capture", {"MerchantID": merchant_id, "MerchantTradeNo": trade_no})
    assert isinstance(answer, list), answer
    return answer


async def query_trades(
    url: str,
    orders: Sequence[tuple[str, str]],
    *,
    platform_id: str = "ECTICKET",
    credentials: ProcessorCredentials | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """The platform's batched trade query for (MerchantID, MerchantTradeNo) pairs: the processor's signed answer,
    not verified here (the caller checks its CheckMacValue)."""
    if len(orders) > MAX_QUERY_ORDERS:
        raise ValueError(f"at most {MAX_QUERY_ORDERS} orders per query")
    key, iv = credentials or processor_credentials()
    query: dict[str, object] = {
        "PlatformID": platform_id,
        "TimeStamp": timestamp if timestamp is not None else int(time.time()),
        "Orders": [{"MerchantID": m, "MerchantTradeNo": t} for m, t in orders],
    }
    query["CheckMacValue"] = query_mac(query, key, iv)
    answer = await _call(url, "POST", "/Cashier/QueryTradeInfo/Batch", query)
    assert isinstance(answer, dict), answer
    return answer


async def recon(url: str, day: date, after: int = 0) -> str:
    """The reconciliation file (CSV) of the trades captured on `day` (Asia/Taipei) with a Seq above `after`."""
    text = await _call(url, "GET", f"/recon/{day.isoformat()}?after={after}", None)
    assert isinstance(text, str)
    return text


async def _call(url: str, method: str, path: str, body: object, *, retry: bool = True) -> Any:
    """One call: JSON (or CSV text) back. An unreachable processor or a 503 is tried again (when `retry`) for up to
    PATIENCE_SECONDS; a refusal raises ProcessorError at once."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE_SECONDS
    backoff = Backoff(0.1, 2.0)
    while True:
        try:
            async with (
                aiohttp.ClientSession(timeout=TIMEOUT) as session,
                session.request(method, url.rstrip("/") + path, json=body) as response,
            ):
                if response.status == 200:
                    if response.content_type == "text/csv":
                        return await response.text()
                    return await response.json()
                failure = ProcessorError(response.status, await response.text())
                if response.status != 503:
                    raise failure
        except aiohttp.ClientConnectionError as exc:
            failure = ProcessorError(0, f"unreachable at {url} ({exc!r})")
        if not retry or loop.time() > deadline:
            raise failure
        await asyncio.sleep(backoff.next())
