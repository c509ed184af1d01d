"""The refund result reaches the merchant's RefundNotifyURL when the escrow bank confirms the refund transfer.

The order's history (payment, its bank credit, issue, refund) is published as the upstream services would, on a past
business day of the test's own; the payout run, the bank simulator's confirmation and the notification are real.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, time, timedelta

import asyncpg
import pytest

from shared.clock import TAIPEI, business_date
from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Tap
from shared.settings import Settings
from tests.integration.test_notifications import endpoint, notification_service
from tests.support.merchant_endpoint import MerchantEndpoint, configure_notifications
from tests.support.merchants import fresh_merchant
from tests.support.settlement import History, core_ledger, payout_run, publish, settled, statement_closed

__all__ = ["endpoint", "notification_service"]  # the module's fixtures, shared with test_notifications
pytestmark = pytest.mark.usefixtures("platform")


async def unclosed_day(db: asyncpg.Pool) -> date:
    """A past statement day not closed yet in this database, within the vouchers' escrow."""
    closed = {
        r["statement_date"] for r in await db.fetch("SELECT statement_date FROM escrow_settlement.recon_statement_days")
    }
    today = business_date(datetime.now(UTC))
    return random.choice([day for n in range(5, 80) if (day := today - timedelta(days=n)) not in closed])


async def test_the_banks_confirmed_refund_is_notified_to_the_refund_url(
    merchant: MerchantClient, tap: Tap, topics: Settings, endpoint: MerchantEndpoint, db: asyncpg.Pool
) -> None:
    m = await fresh_merchant(topics)
    await configure_notifications(topics, m, refund_notify_url=endpoint.url("refunds"),
                                  use_status_notify_url=endpoint.url("refund-status"))  # fmt: skip
    day = await unclosed_day(db)
    h = History(m, datetime.combine(day, time(12), tzinfo=TAIPEI).astimezone(UTC))
    kept, returned = h.paid_order(300, 200)
    h.written_off(kept)
    h.refunded(returned, fee=20)  # 180 back to the consumer
    await publish(merchant.producer, h.events)
    await settled(db, [m], core_ledger(h.events)[0])
    await publish(merchant.producer, [statement_closed(day, h.events, datetime.now(UTC))])
    summary = await payout_run(db, day, [m])
    assert (summary["refunds"], summary["refunded"]) == (1, 180)
    [confirmed] = await tap.wait_for(lambda s: s.type == "TransferConfirmed" and s.payload["merchant_id"] == m
                                     and s.payload["transfer"] == "refund")  # fmt: skip
    [got] = await endpoint.wait_for("refunds", 1)
    trade_no = h.orders[returned]
    assert got.data == {
        "MerchantID": m, "MerchantTradeNo": trade_no, "TicketTradeNo": trade_no, "RefundAmount": 180,
        "Remark": "refund transferred to the consumer", "RefundTime": got.data["RefundTime"],
        "NotificationID": got.header_id,
    }  # fmt: skip
    assert got.at - confirmed.envelope.occurred_at.timestamp() < 2.0
    # The write-off and refund themselves happened days ago: too old to wake the merchant with (72 h at most).
    await asyncio.sleep(0.5)
    assert "refund-status" not in endpoint.received
