"""All of the processor's SQL (schema payment_processor): recording, capturing and reading trades."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from deploy.simulators.processor.trades import Checkout, Order, Trade

SCHEMA = "payment_processor"

# Every transaction that hands out capture numbers takes this lock first and holds it until it commits, so the
# numbers become visible in the order they were handed out: a reconciliation poller asking for "Seq > the last
# one I saw" can never skip a number that a slower transaction commits later (a sequence alone allows that).
_CAPTURE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('payment_processor/captures'))"
# The trade's number: the Taipei day it was made (real time, $1), then the next of a sequence (20 digits).
_TRADE_NO = (
    "to_char($1::timestamptz AT TIME ZONE 'Asia/Taipei', 'YYMMDD') || lpad(nextval('trade_numbers')::text, 14, '0')"
)
_CAPTURE = "CASE WHEN a.capture THEN $1::timestamptz END, CASE WHEN a.capture THEN nextval('capture_numbers') END"
_COLUMNS = (
    "trade_no, merchant_id, merchant_trade_no, attempt, amount, payment_type, payment_date, trade_date, created_at,"
    " captured_at, capture_seq"
)


async def record(
    conn: asyncpg.Connection, checkouts: Sequence[tuple[Checkout, datetime]], now: datetime
) -> list[Trade]:
    """The trade of each checkout, in order: a new one, or (without Again) the order's trade if it has one already.
    Each checkout comes with its PaymentDate; `now` is real time (capture, TradeNo's day)."""
    if any(c.capture for c, _ in checkouts):
        await conn.execute(_CAPTURE_LOCK)
    trades: list[Trade] = []
    run: list[tuple[Checkout, datetime]] = []
    for item in checkouts:  # in request order: a charge Again after a first checkout of the same order is its second
        if item[0].again:
            trades += await _first_trades(conn, run, now)
            run = []
            trades.append(await _charge_again(conn, *item, now))
        else:
            run.append(item)
    return trades + await _first_trades(conn, run, now)


async def _first_trades(
    conn: asyncpg.Connection, checkouts: Sequence[tuple[Checkout, datetime]], now: datetime
) -> list[Trade]:
    if not checkouts:
        return []
    columns = _columns(checkouts)
    await conn.execute(
        f"""
        INSERT INTO trades ({_COLUMNS})
        SELECT {_TRADE_NO}, a.merchant_id, a.merchant_trade_no, 1, a.amount, a.payment_type, a.paid_at, a.paid_at, $1,
               {_CAPTURE}
        FROM unnest($2::text[], $3::text[], $4::bigint[], $5::text[], $6::timestamptz[], $7::bool[])
             AS a(merchant_id, merchant_trade_no, amount, payment_type, paid_at, capture)
        ON CONFLICT (merchant_id, merchant_trade_no, attempt) DO NOTHING
        """,
        now,
        *columns,
    )
    rows = await conn.fetch(
        "SELECT t.* FROM unnest($1::text[], $2::text[]) AS a(merchant_id, merchant_trade_no)"
        " JOIN trades t USING (merchant_id, merchant_trade_no) WHERE t.attempt = 1",
        columns[0],
        columns[1],
    )
    by_order = {(r["merchant_id"], r["merchant_trade_no"]): _trade(r) for r in rows}
    return [by_order[(c.merchant_id, c.merchant_trade_no)] for c, _ in checkouts]


async def _charge_again(conn: asyncpg.Connection, checkout: Checkout, paid_at: datetime, now: datetime) -> Trade:
    """A further trade for the order (a double charge). Two at once for one order collide on its attempt number:
    the loser's transaction fails with a unique violation and is tried again by the caller."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO trades ({_COLUMNS})
        SELECT {_TRADE_NO}, a.merchant_id, a.merchant_trade_no,
               1 + coalesce((SELECT max(attempt) FROM trades t WHERE t.merchant_id = a.merchant_id
                                                                  AND t.merchant_trade_no = a.merchant_trade_no), 0),
               a.amount, a.payment_type, a.paid_at, a.paid_at, $1, {_CAPTURE}
        FROM (SELECT $2::text, $3::text, $4::bigint, $5::text, $6::timestamptz, $7::bool)
             AS a(merchant_id, merchant_trade_no, amount, payment_type, paid_at, capture)
        RETURNING *
        """,
        now,
        checkout.merchant_id,
        checkout.merchant_trade_no,
        checkout.amount,
        checkout.payment_type,
        paid_at,
        checkout.capture,
    )
    return _trade(row)


def _columns(checkouts: Sequence[tuple[Checkout, datetime]]) -> tuple[list[object], ...]:
    return (
        [c.merchant_id for c, _ in checkouts],
        [c.merchant_trade_no for c, _ in checkouts],
        [c.amount for c, _ in checkouts],
        [c.payment_type for c, _ in checkouts],
        [paid_at for _, paid_at in checkouts],
        [c.capture for c, _ in checkouts],
    )


async def capture(conn: asyncpg.Connection, order: Order, now: datetime) -> list[Trade]:
    """Capture every authorised trade of the order now; all its trades, captured or not."""
    await conn.execute(_CAPTURE_LOCK)
    await conn.execute(
        "UPDATE trades SET captured_at = $3, capture_seq = nextval('capture_numbers')"
        " WHERE merchant_id = $1 AND merchant_trade_no = $2 AND captured_at IS NULL",
        order.merchant_id,
        order.merchant_trade_no,
        now,
    )
    return await trades_of(conn, [order])


async def trades_of(conn: asyncpg.Connection, orders: Sequence[Order]) -> list[Trade]:
    """Every trade of the orders, in the order asked, then in the order made."""
    rows = await conn.fetch(
        "SELECT t.* FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS a(merchant_id, merchant_trade_no, asked)"
        " JOIN trades t USING (merchant_id, merchant_trade_no) ORDER BY a.asked, t.attempt",
        [o.merchant_id for o in orders],
        [o.merchant_trade_no for o in orders],
    )
    return [_trade(r) for r in rows]


async def captured_between(conn: asyncpg.Connection, start: datetime, end: datetime, after: int) -> list[Trade]:
    """Trades captured in [start, end) with a capture number above `after`, in capture order."""
    rows = await conn.fetch(
        "SELECT * FROM trades WHERE captured_at >= $1 AND captured_at < $2 AND capture_seq > $3 ORDER BY capture_seq",
        start,
        end,
        after,
    )
    return [_trade(r) for r in rows]


def _trade(row: asyncpg.Record) -> Trade:
    return Trade(
        trade_no=row["trade_no"],
        merchant_id=row["merchant_id"],
        merchant_trade_no=row["merchant_trade_no"],
        attempt=row["attempt"],
        amount=row["amount"],
        payment_type=row["payment_type"],
        payment_date=row["payment_date"],
        trade_date=row["trade_date"],
        captured_at=row["captured_at"],
        capture_seq=row["capture_seq"],
    )
