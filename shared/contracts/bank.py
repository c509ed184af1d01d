"""Events of the escrow bank: its statement of the platform's escrow account (docs/money-trust.md).

The bank reports each movement as it books it (`BankStatementLine`, intraday like an MT942) and ends each Asia/Taipei
day with `BankStatementClosed` (like an MT940 closing): the day's lines are then complete. Both are keyed by the
statement date on a one-partition topic, so a day's closing always follows its lines. Settlement matches the lines
against its ledger (credits: payments by TradeNo; debits: its confirmed transfers by instruction id).
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from pydantic import AwareDatetime, Field

from shared.contracts.common import NTD
from shared.contracts.events import Event, register
from shared.topics import BANK_STATEMENTS


class StatementDirection(StrEnum):
    CREDIT = "credit"  # money received into the escrow account (a captured card payment, per trade)
    DEBIT = "debit"  # money sent out of it (a payout or a consumer refund, per instruction)


def credit_line_id(trade_no: str) -> str:
    return f"credit/{trade_no}"


def debit_line_id(instruction_id: uuid.UUID) -> str:
    return f"debit/{instruction_id}"


@register
class BankStatementLine(Event):
    """One booked movement. `line_id` is "credit/<TradeNo>" or "debit/<instruction id>": the bank books each once."""

    event_type = "BankStatementLine"
    topic = BANK_STATEMENTS

    statement_date: date  # the Asia/Taipei day whose statement carries the line
    line_id: str
    direction: StatementDirection
    amount: int = Field(gt=0)
    booked_at: AwareDatetime
    merchant_id: str | None = None  # who the money is for, as the bank knows it (None: it cannot tell)
    merchant_trade_no: str | None = None  # the order (a credit's MerchantTradeNo, a refund's TicketTradeNo)
    trade_no: str | None = None  # the processor's TradeNo of a credit
    instruction_id: uuid.UUID | None = None  # the settlement instruction a debit carried out

    def key(self) -> str:
        return self.statement_date.isoformat()


@register
class BankStatementClosed(Event):
    """The day's statement is complete: this many lines, these totals."""

    event_type = "BankStatementClosed"
    topic = BANK_STATEMENTS

    statement_date: date
    lines: int = Field(ge=0)
    credits_total: NTD
    debits_total: NTD
    closed_at: AwareDatetime

    def key(self) -> str:
        return self.statement_date.isoformat()
