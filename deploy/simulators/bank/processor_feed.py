"""How the simulated bank learns what money it received, independently of the platform: it reads the processor's
reconciliation file (`GET {PROCESSOR_URL}/recon/{date}?after=SEQ`) and credits each captured trade once (by
TradeNo), publishing a credit line as it books it. It closes a day's statement once the day has ended (real time,
Asia/Taipei) plus a grace, and the day's file has been read after that: nothing captured that day can come later.

Which files: today's, and every earlier one not read completely yet (yesterday's until the bank has read it after
midnight plus the grace; after a downtime, every day it missed). A processor that does not answer costs a retry on
the next tick and closes nothing meanwhile: a statement closed without its credits would report money missing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import aiohttp
import asyncpg

from deploy.simulators.bank import recon_file, statement, statement_rules
from deploy.simulators.bank.names import SCHEMA
from deploy.simulators.bank.recon_file import BadReconFile, CapturedTrade
from deploy.simulators.bank.statement import Movement
from shared.clock import Clock, business_date, end_of_business_day
from shared.contracts.bank import StatementDirection, credit_line_id
from shared.contracts.events import Outgoing
from shared.infra import outbox

log = logging.getLogger(__name__)
FETCH_TIMEOUT_SECONDS = 10


@dataclass
class ProcessorFeed:
    pool: asyncpg.Pool  # connections on the escrow_bank schema
    clock: Clock
    url: str  # PROCESSOR_URL, no trailing slash
    grace: timedelta  # after a day ends, how long its last captures may take to appear in its file
    session: aiohttp.ClientSession | None = None
    failing: bool = field(default=False)

    async def step(self) -> bool:
        """One tick of the timer: read the files, then close the days that have ended."""
        now = self.clock.now()
        async with self.pool.acquire() as conn:
            days = await files_to_read(conn, business_date(now))
        for day in days:
            if not await self.read(day, now):
                return False
        async with self.pool.acquire() as conn, conn.transaction():
            closed: list[Outgoing] = []
            for day in await statement.open_days_before(conn, business_date(now)):
                if now >= end_of_business_day(day) + self.grace and await file_done(conn, day):
                    closed += [event] if (event := await statement.close(conn, day, now)) else []
            await outbox.append(conn, SCHEMA, closed)
        return False

    async def read(self, day: date, now: datetime) -> bool:
        """Read the day's file past its cursor and book the new credits; False if the processor did not answer."""
        async with self.pool.acquire() as conn:
            after = await conn.fetchval("SELECT after_seq FROM recon_cursors WHERE processor_date = $1", day) or 0
        try:
            trades = await self._fetch(day, after)
        except (aiohttp.ClientError, OSError, TimeoutError, BadReconFile) as exc:
            if not self.failing:
                log.warning("the processor's reconciliation file for %s cannot be read (%r): retrying", day, exc)
            self.failing = True
            return False
        if self.failing:
            log.info("the processor's reconciliation file can be read again")
            self.failing = False
        async with self.pool.acquire() as conn, conn.transaction():
            events = await credit(conn, day, trades, now)
            await conn.execute(
                "INSERT INTO recon_cursors (processor_date, after_seq, complete) VALUES ($1, $2, $3)"
                " ON CONFLICT (processor_date) DO UPDATE SET after_seq = greatest(recon_cursors.after_seq, $2),"
                " complete = recon_cursors.complete OR $3",
                day,
                max([after, *(t.seq for t in trades)]),
                now >= end_of_business_day(day) + self.grace,
            )
            await outbox.append(conn, SCHEMA, events)
        return True

    async def _fetch(self, day: date, after: int) -> list[CapturedTrade]:
        if self.session is None:
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS))
        address = f"{self.url}/recon/{day.isoformat()}"
        async with self.session.get(address, params={"after": str(after)}) as response:
            response.raise_for_status()
            return recon_file.parse(await response.text())

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


async def files_to_read(conn: asyncpg.Connection, today: date) -> list[date]:
    """Today's file, every earlier one not read completely, and the days missed since the latest one read."""
    rows = await conn.fetch(
        "SELECT processor_date FROM recon_cursors WHERE NOT complete AND processor_date < $1", today
    )
    latest: date | None = await conn.fetchval("SELECT max(processor_date) FROM recon_cursors")
    missed = [] if latest is None else [latest + timedelta(days=n) for n in range(1, (today - latest).days)]
    return sorted({*(r["processor_date"] for r in rows), *missed, today})


async def file_done(conn: asyncpg.Connection, day: date) -> bool:
    """True once the day's file was read after the day ended (or was never the bank's to read: no cursor)."""
    complete: bool | None = await conn.fetchval("SELECT complete FROM recon_cursors WHERE processor_date = $1", day)
    return complete is not False


async def credit(conn: asyncpg.Connection, day: date, trades: list[CapturedTrade], now: datetime) -> list[Outgoing]:
    """Credit each trade the bank has not credited yet (once per TradeNo, whoever reads the file at the same time)."""
    await statement.statement_lock(conn)
    await statement.ensure_day(conn, day)  # a day with no credit still gets its statement (and its closing)
    if not trades:
        return []
    known = await conn.fetch(
        "SELECT trade_no FROM credited_trades WHERE trade_no = ANY($1::text[])", [t.trade_no for t in trades]
    )
    seen = {r["trade_no"] for r in known}
    fresh = list({t.trade_no: t for t in trades if t.trade_no not in seen}.values())
    ruled = bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM statement_rules)"))
    amounts = [
        await statement_rules.booked_amount(conn, t.merchant_id, t.merchant_trade_no, t.amount) if ruled else t.amount
        for t in fresh
    ]
    await conn.execute(
        """
        INSERT INTO credited_trades (trade_no, merchant_id, merchant_trade_no, trade_amount, booked_amount,
                                     capture_date, read_at)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::date[],
                             $7::timestamptz[])
        """,
        [t.trade_no for t in fresh],
        [t.merchant_id for t in fresh],
        [t.merchant_trade_no for t in fresh],
        [t.amount for t in fresh],
        amounts,
        [business_date(t.captured_at) for t in fresh],
        [now] * len(fresh),
    )
    credits = [
        Movement(
            credit_line_id(t.trade_no),
            StatementDirection.CREDIT,
            amount,
            day,
            now,
            merchant_id=t.merchant_id,
            merchant_trade_no=t.merchant_trade_no,
            trade_no=t.trade_no,
        )
        for t, amount in zip(fresh, amounts, strict=True)
        if amount is not None
    ]
    return await statement.book(conn, credits)
