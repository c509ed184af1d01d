"""The bank port: one call per instruction; the answer may be given now or after a delay."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from shared.contracts.settlement import PayoutInstructed, RefundInstructed, TransferKind


@dataclass(frozen=True)
class Instruction:
    instruction_id: uuid.UUID
    transfer: TransferKind
    merchant_id: str
    ticket_trade_no: str | None  # the order, for a consumer refund
    amount: int

    @classmethod
    def of(cls, event: PayoutInstructed | RefundInstructed) -> Instruction:
        if isinstance(event, PayoutInstructed):
            return cls(event.instruction_id, TransferKind.PAYOUT, event.merchant_id, None, event.amount)
        return cls(event.instruction_id, TransferKind.REFUND, event.merchant_id, event.ticket_trade_no, event.amount)


@dataclass(frozen=True)
class BankAnswer:
    accepted: bool
    reason: str = ""  # why a transfer was rejected
    after: timedelta = timedelta(0)  # when the bank will tell us (a delayed confirmation or rejection)


class EscrowBank(Protocol):
    async def transfer(self, instruction: Instruction) -> BankAnswer:
        """Carry out (or refuse) one transfer. The gateway records the answer in its consumer's transaction, which a
        database fault can roll back after the call: the same instruction id may then be asked again, and must get
        the same answer without a second transfer (as a real bank treats an id it has seen)."""
        ...
