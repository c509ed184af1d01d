"""The bank gateway: consumes instructions, asks the bank for each instruction id until its answer is recorded
(the bank answers a repeated id as it did the first time), and publishes each answer (now, or when a delayed
answer falls due) on the instructions topic, where settlement consumes it. A transfer carried out is booked as a
debit line of the bank's statement in the same transaction (statement.py).

The answer's event id is derived from the instruction id, so however often an instruction is delivered, there is
one answer event, and settlement's inbox keeps one copy even if the relay publishes it twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from deploy.simulators.bank.names import PRODUCER, SCHEMA
from deploy.simulators.bank.port import BankAnswer, EscrowBank, Instruction
from deploy.simulators.bank.statement import Movement, book
from shared.clock import Clock, business_date
from shared.contracts.bank import StatementDirection, debit_line_id
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing, payload_of
from shared.contracts.settlement import (
    PayoutInstructed,
    RefundInstructed,
    TransferConfirmed,
    TransferKind,
    TransferRejected,
)
from shared.ids import derived_id
from shared.infra import outbox
from shared.infra.messages import Inbound, Parsed

RELEASE_BATCH = 500


@dataclass
class BankGateway:
    bank: EscrowBank
    clock: Clock
    pool: asyncpg.Pool  # connections on the escrow_bank schema

    async def on_instruction(
        self, conn: asyncpg.Connection, parsed: Parsed[EventEnvelope], _record: Inbound
    ) -> Sequence[Outgoing]:
        event = payload_of(parsed.body)
        if not isinstance(event, PayoutInstructed | RefundInstructed):
            return []  # the bank's own answers share the topic
        instruction = Instruction.of(event)
        if await conn.fetchval("SELECT 1 FROM bank_transfers WHERE instruction_id = $1", instruction.instruction_id):
            return []  # the bank has carried out this id already: never twice
        answer = await self.bank.transfer(instruction)
        now = self.clock.now()
        at, due = now + answer.after, not answer.after
        await conn.execute(
            "INSERT INTO bank_transfers (instruction_id, transfer, merchant_id, ticket_trade_no, amount, accepted,"
            " reason, answer_at, answered, received_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            instruction.instruction_id,
            instruction.transfer.value,
            instruction.merchant_id,
            instruction.ticket_trade_no,
            instruction.amount,
            answer.accepted,
            answer.reason,
            at,
            due,
            now,
        )
        if not due:
            return []
        return [answer_event(instruction, answer, at), *await book(conn, debits([(instruction, answer, at)]))]

    async def release_due(self) -> bool:
        """Publish delayed answers that fell due; True if there may be more."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "UPDATE bank_transfers SET answered = true WHERE instruction_id IN (SELECT instruction_id"
                " FROM bank_transfers WHERE NOT answered AND answer_at <= $1 ORDER BY answer_at LIMIT $2"
                " FOR UPDATE SKIP LOCKED) RETURNING *",
                self.clock.now(),
                RELEASE_BATCH,
            )
            answers = [
                (
                    Instruction(
                        r["instruction_id"],
                        TransferKind(r["transfer"]),
                        r["merchant_id"],
                        r["ticket_trade_no"],
                        r["amount"],
                    ),
                    BankAnswer(r["accepted"], r["reason"]),
                    r["answer_at"],
                )
                for r in rows
            ]
            events = [answer_event(*answer) for answer in answers]
            await outbox.append(conn, SCHEMA, [*events, *await book(conn, debits(answers))])
        return len(rows) == RELEASE_BATCH


def debits(answers: list[tuple[Instruction, BankAnswer, datetime]]) -> list[Movement]:
    """The statement's debit line of each transfer carried out (a rejected one moved no money)."""
    return [
        Movement(
            debit_line_id(i.instruction_id),
            StatementDirection.DEBIT,
            i.amount,
            business_date(at),
            at,
            merchant_id=i.merchant_id,
            merchant_trade_no=i.ticket_trade_no,
            instruction_id=i.instruction_id,
        )
        for i, answer, at in answers
        if answer.accepted
    ]


def answer_event(instruction: Instruction, answer: BankAnswer, at: datetime) -> Outgoing:
    common = {
        "instruction_id": instruction.instruction_id,
        "transfer": instruction.transfer,
        "merchant_id": instruction.merchant_id,
        "ticket_trade_no": instruction.ticket_trade_no,
        "amount": instruction.amount,
        "at": at,
    }
    event = (
        TransferConfirmed.model_validate(common)
        if answer.accepted
        else TransferRejected.model_validate({**common, "reason": answer.reason})
    )
    cause = str(instruction.instruction_id)
    event_id = derived_id(instruction.instruction_id, "escrow-bank/answer")
    return PRODUCER.event(event, event_id, at, correlation_id=cause, causation_id=cause)
