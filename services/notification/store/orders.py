"""Where each order's notifications go, learnt from TicketsIssued."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.notification.inbound import OrderTargets


async def remember(conn: asyncpg.Connection, orders: Sequence[OrderTargets]) -> None:
    if not orders:
        return
    # A repeated TicketsIssued (another event id for the same order) says the same: the first one stands.
    await conn.execute(
        """
        INSERT INTO orders (merchant_id, ticket_trade_no, platform_id, refund_notify_url, use_status_notify_url)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
        ON CONFLICT DO NOTHING
        """,
        [o.merchant_id for o in orders],
        [o.ticket_trade_no for o in orders],
        [o.platform_id for o in orders],
        [o.refund_notify_url for o in orders],
        [o.use_status_notify_url for o in orders],
    )


async def known(conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], OrderTargets]:
    """The orders of `keys` (merchant, ticket trade number) that TicketsIssued has told about."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """
        SELECT o.* FROM orders o
        JOIN unnest($1::text[], $2::text[]) AS k(merchant_id, ticket_trade_no) USING (merchant_id, ticket_trade_no)
        """,
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {
        (r["merchant_id"], r["ticket_trade_no"]): OrderTargets(
            r["merchant_id"], r["ticket_trade_no"], r["platform_id"], r["refund_notify_url"], r["use_status_notify_url"]
        )
        for r in rows
    }
