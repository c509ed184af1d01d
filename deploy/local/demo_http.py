"""The HTTP demo (`make run`): the whole life of a paid order over HTTP, as an ECTicket client and ECPay see the
platform. A consumer pays at the sandbox processor and ECPay's callback reaches the gateway's webhook; the merchant
issues, reads the result, writes a voucher off and cancels it, refunds one and cancels that, queries the ticket,
the order and its refunds, and downloads the day's CSV. Every call is a sealed envelope POSTed to GATEWAY_URL."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp

from shared.admin.seed import TEST_MERCHANT
from shared.clock import TAIPEI
from shared.ecticket.envelope import OpenedData, ResponseEnvelope, open_response, seal_request
from shared.ecticket.processor_query import processor_url
from shared.sandbox.checkout import checkout
from shared.sandbox.merchant import KEYS, unique

GATEWAY = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")
KEY, IV = KEYS[TEST_MERCHANT]


async def call(session: aiohttp.ClientSession, operation: str, data: dict[str, Any], *, at: int = 0) -> dict[str, Any]:
    """POST one sealed request; print and return its opened reply Data."""
    body = {"MerchantID": TEST_MERCHANT, **data}
    envelope = seal_request(body, TEST_MERCHANT, None, KEY, IV, int(time.time()) + at).to_wire()
    async with session.post(f"{GATEWAY}/api/Ticket/{operation}", json=envelope) as response:
        text = await response.text()
        if response.status != 200:
            raise SystemExit(f"{operation}: HTTP {response.status} {text}")
    opened = open_response(ResponseEnvelope.model_validate_json(text), KEY, IV)
    assert isinstance(opened, OpenedData), opened
    shown = {k: v for k, v in opened.data.items() if k in ("Status", "UseStatus", "TicketNo", "RefundAmount")}
    print(
        f"   POST /api/Ticket/{operation:<18} -> RtnCode {opened.data['RtnCode']} {opened.data['RtnMsg']} {shown or ''}"
    )
    return opened.data


async def issued(session: aiohttp.ClientSession, trade_no: str) -> dict[str, Any]:
    """QueryIssueResult until the order is issued or failed (the Issue reply may only accept it)."""
    for _ in range(150):
        result = await call(session, "QueryIssueResult", {"MerchantTradeNo": trade_no})
        if result["Status"] != 3:
            return result
        await asyncio.sleep(0.2)
    raise SystemExit(f"order {trade_no} still processing")


async def main() -> None:
    trade_no = unique("HTTP")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        print(
            f"1. A consumer pays NT$1,000 for order {trade_no}; ECPay posts the result to {GATEWAY}/payment/ecpay/return"
        )
        result = await checkout(processor_url(), TEST_MERCHANT, trade_no, 1000, deliver=False)
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        async with session.post(f"{GATEWAY}/payment/ecpay/return", data=urlencode(result), headers=form) as answer:
            print(f"   webhook -> HTTP {answer.status} {await answer.text()}")
        print("2. The merchant issues two NT$500 pickup vouchers for it, then reads the result")
        lines = [{"ItemNo": "PU000500", "TicketAmount": 2}]
        await call(
            session, "Issue", {"MerchantTradeNo": trade_no, "IssueType": "3", "Operator": "demo", "TicketInfo": lines}
        )
        first, second = (await issued(session, trade_no))["TicketList"]
        print("3. A POS writes the first voucher off, and cancels that")
        await call(session, "WriteOff", {"WriteOffNo": first["WriteOffNo"], "Action": "1", "Operator": "pos1"})
        await call(session, "WriteOff", {"WriteOffNo": first["WriteOffNo"], "Action": "2", "Operator": "pos1",
                                         "CancelReason": "wrong voucher"})  # fmt: skip
        print("4. The consumer returns the second voucher; the refund is cancelled, then made again")
        refund = {"TicketNo": second["TicketNo"], "Operator": "shop1"}
        await call(session, "Refund", {**refund, "Action": "1"})
        await call(session, "Refund", {**refund, "Action": "2"})
        await call(session, "Refund", {**refund, "Action": "1"}, at=1)  # a new request: not a replay of the first
        print("5. The merchant reads the ticket, the order and its refunds")
        await call(session, "QueryTicketStatus", {"TicketNo": first["TicketNo"]})
        order = await call(session, "QueryOrderInfo", {"MerchantTradeNo": trade_no})
        print(
            f"   order: {order['TotalCount']} tickets, {order['RefundCount']} refunded, {order['UnUsedCount']} unused"
        )
        refunds = await call(session, "QueryRefundInfo", {"MerchantTradeNo": trade_no})
        print(f"   refunds: NT${refunds['RefundAmount']} back to the consumer, NT${refunds['TotalRefundFee']} fee")
        print("6. The day's tickets as CSV (one file a minute per merchant)")
        today = datetime.now(TAIPEI).strftime("%Y%m%d")
        report = await call(session, "OrderDetail", {"ReportType": 2, "BeginDate": today, "EndDate": today})
        print(
            f"   {report.get('RowCount', 0)} rows; the first: {json.dumps(report.get('CsvData', '').splitlines()[:2])}"
        )


if __name__ == "__main__":
    asyncio.run(main())
