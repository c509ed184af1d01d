"""The `make run` demo: consumers pay at the sandbox payment processor, the merchant issues paid and gift orders, a
POS writes off and refunds vouchers, and we print what the platform answered and which events it published."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiokafka import AIOKafkaProducer

from shared.admin.seed import TEST_MERCHANT
from shared.clock import TAIPEI
from shared.ecticket.processor_query import processor_url
from shared.infra.kafka_auth import kafka_security
from shared.infra.quotas import merchant_client_id
from shared.sandbox.checkout import checkout
from shared.sandbox.merchant import MerchantClient, open_reply, unique
from shared.sandbox.tap import Tap
from shared.settings import Settings
from shared.topics import INGEST_REPLIES, ISSUANCE_EVENTS, PAYMENT_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_EVENTS


def order(trade_no: str, items: list[tuple[str, int]], free: bool = False) -> dict[str, Any]:
    key = "FreeTradeNo" if free else "MerchantTradeNo"
    lines = [{"ItemNo": item, "TicketAmount": n} for item, n in items]
    return {"MerchantID": TEST_MERCHANT, key: trade_no, "IssueType": "3", "Operator": "demo", "TicketInfo": lines}


async def ask(tap: Tap, message: dict[str, Any]) -> dict[str, Any]:
    """Wait for the one reply to a request already sent, open it with the merchant's keys, and print it."""
    [seen] = await tap.wait_for(
        lambda s: s.type == "RequestReplied" and s.payload["request_id"] == message["request_id"]
    )
    reply = open_reply(seen.payload["response"], TEST_MERCHANT)
    extras = {k: v for k, v in reply.items() if k in ("UseStatus", "RefundAmount", "Fee")}
    print(f"   platform -> reply RtnCode {reply['RtnCode']} {reply['RtnMsg']} {extras or ''}")
    return reply


def print_events(tap: Tap, trade_no: str) -> None:
    for s in tap.matching(lambda s: trade_no in (s.payload.get("merchant_trade_no"), s.payload.get("free_trade_no"))):
        print(f"   event {s.type:<18} key={s.key}")


async def issue(
    client: MerchantClient, tap: Tap, title: str, data: dict[str, Any], pay: int | None, pay_first: bool = True
) -> list[dict[str, Any]]:
    trade_no = data.get("MerchantTradeNo") or data["FreeTradeNo"]
    print(f"\n== {title} ({trade_no})")
    message = client.request("Issue", data, merchant_id=TEST_MERCHANT)
    if pay and pay_first:
        await pay_at_processor(trade_no, pay)
    await client.send_request(message)
    print(f"   merchant -> ECTicket Issue request {message['request_id']}")
    if pay and not pay_first:
        await asyncio.sleep(0.5)
        await pay_at_processor(trade_no, pay, "after the request")
    reply = await ask(tap, message)
    tickets: list[dict[str, Any]] = reply.get("TicketList", [])
    for t in tickets:
        kind = "pickup" if t["TicketType"] == 1 else "gift"
        print(
            f"      ticket {t['TicketNo']}  write-off code {t['WriteOffNo']}  {kind} {t['ItemNo']}"
            f"  {t['StartDate'] or '-'}..{t['ExpireDate'] or '-'}"
        )
    print_events(tap, trade_no)
    return tickets


async def pay_at_processor(trade_no: str, amount: int, when: str = "") -> None:
    """The consumer pays at the sandbox processor (as at ECPay's checkout), which delivers the signed AIO result to
    the platform itself; the platform confirms it only as the processor's record says."""
    result = await checkout(processor_url(), TEST_MERCHANT, trade_no, amount)
    print(f"   consumer -> processor checkout NT${amount} (one-time credit card){', ' + when if when else ''}")
    print(f"   processor -> AIO payment result TradeNo {result['TradeNo']} delivered to the platform")


async def use(client: MerchantClient, tap: Tap, title: str, operation: str, data: dict[str, Any]) -> None:
    print(f"\n== {title}")
    message = client.request(operation, {"MerchantID": TEST_MERCHANT, **data}, merchant_id=TEST_MERCHANT)
    await client.send_request(message)
    print(f"   POS -> ECTicket {operation} {data}")
    await ask(tap, message)


async def money(tap: Tap, trade_no: str) -> None:
    """The escrow ledger's view: every journal entry of the first order, then the merchant's statement today."""
    print(f"\n== The escrow ledger for {trade_no}")
    entries = await tap.wait_for(
        lambda s: s.type == "LedgerEntryPosted" and s.payload["ticket_trade_no"] == trade_no and s.payload["postings"],
        count=3,  # payment into escrow, write-off release, refund (consumer + fee); refusals move nothing
    )
    for s in entries:
        lines = ", ".join(f"{p['account_kind']} {p['amount']:+}" for p in s.payload["postings"])
        print(f"   {s.payload['kind']:<22} {lines}")
    today = datetime.now(TAIPEI).date().isoformat()
    print(f"\n== Statement of merchant {TEST_MERCHANT} for {today} (CSV)")
    command = [
        sys.executable,
        "-m",
        "services.escrow_settlement.cli",
        "statement",
        "--merchant-id",
        TEST_MERCHANT,
        "--date",
        today,
        "--format",
        "csv",
    ]
    result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=False)
    print("   " + "\n   ".join(result.stdout.strip().splitlines()[-12:]))


async def main() -> None:
    settings = Settings.from_env()
    tap = Tap(
        settings.kafka_bootstrap,
        [INGEST_REPLIES, PAYMENT_EVENTS, ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_EVENTS],
    )
    await tap.start()
    # As a merchant's own producer would: under the test merchant's produce quota (docs/integrating.md).
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=merchant_client_id(TEST_MERCHANT),
        acks="all",
        **kafka_security(),
    )
    await producer.start()
    client = MerchantClient(producer)
    try:
        paid_order = unique("DEMO")
        paid = await issue(client, tap, "Paid order, payment first", order(paid_order, [("PU000500", 2)]), 1000)
        await issue(
            client, tap, "Paid order, request first", order(unique("DEMO"), [("PU001200", 1)]), 1200, pay_first=False
        )
        await issue(client, tap, "Gift-only order, no payment", order(unique("GIFT"), [("GF000030", 2)], True), None)
        await issue(client, tap, "Mixed order", order(unique("DEMO"), [("PU000500", 1), ("GF000030", 1)]), 500)
        await issue(client, tap, "Paid order with the wrong amount", order(unique("DEMO"), [("PU000500", 1)]), 450)
        first, second = paid[0], paid[1]
        await use(
            client,
            tap,
            "Write off the first voucher at the counter",
            "WriteOff",
            {"WriteOffNo": first["WriteOffNo"], "Action": "1", "Operator": "pos1"},
        )
        await use(
            client,
            tap,
            "The same code presented at another terminal",
            "WriteOff",
            {"WriteOffNo": first["WriteOffNo"], "Action": "1", "Operator": "pos2"},
        )
        await use(
            client,
            tap,
            "Refund the second voucher (the merchant's 10% handling fee)",
            "Refund",
            {"TicketNo": second["TicketNo"], "Action": "1", "Operator": "desk1"},
        )
        await use(
            client,
            tap,
            "Refund the written-off voucher",
            "Refund",
            {"TicketNo": first["TicketNo"], "Action": "1", "Operator": "desk1"},
        )
        await money(tap, paid_order)
    finally:
        await producer.stop()
        await tap.stop()


if __name__ == "__main__":
    asyncio.run(main())
