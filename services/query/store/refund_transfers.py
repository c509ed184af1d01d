"""The `refund_transfers` table: settlement's refund instructions and the bank's answers, by order."""

from __future__ import annotations

import asyncpg

from services.query.domain.views import RefundTransfer
from shared.contracts.settlement import RefundInstructed, TransferOutcome


async def instructed(conn: asyncpg.Connection, event: RefundInstructed) -> None:
    await conn.execute(
        """
        INSERT INTO refund_transfers (instruction_id, merchant_id, ticket_trade_no, amount, business_date, status)
        VALUES ($1, $2, $3, $4, $5, 'instructed')
        ON CONFLICT (instruction_id) DO NOTHING
        """,
        event.instruction_id,
        event.merchant_id,
        event.ticket_trade_no,
        event.amount,
        event.business_date,
    )


async def answered(conn: asyncpg.Connection, event: TransferOutcome, status: str) -> None:
    """The bank's answer (it follows its instruction on the same partition; kept even if it came alone)."""
    await conn.execute(
        """
        INSERT INTO refund_transfers (instruction_id, merchant_id, ticket_trade_no, amount, status, answered_at)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (instruction_id) DO UPDATE SET status = EXCLUDED.status, answered_at = EXCLUDED.answered_at
        """,
        event.instruction_id,
        event.merchant_id,
        event.ticket_trade_no or "",
        event.amount,
        status,
        event.at,
    )


async def of_order(conn: asyncpg.Connection, merchant_id: str, ticket_trade_no: str) -> list[RefundTransfer]:
    rows = await conn.fetch(
        """
        SELECT amount, business_date, status, answered_at FROM refund_transfers
        WHERE merchant_id = $1 AND ticket_trade_no = $2 ORDER BY business_date NULLS LAST, answered_at, instruction_id
        """,
        merchant_id,
        ticket_trade_no,
    )
    return [RefundTransfer(r["amount"], r["business_date"], r["status"], r["answered_at"]) for r in rows]
