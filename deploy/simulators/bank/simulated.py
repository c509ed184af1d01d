"""The sandbox escrow bank: accepts every transfer unless a rule says otherwise.

Rules live in `escrow_bank.bank_rules` (`cli bank-rule`): for a subject — an order key, a merchant id, or `*` —
reject (`remaining` times, or always when NULL) or answer only after a delay. The most specific rule wins.
Each instruction id is decided once (`bank_decisions`) and asked again gets the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import asyncpg

from deploy.simulators.bank.port import BankAnswer, Instruction
from shared.contracts.common import order_key


@dataclass
class SimulatedEscrowBank:
    pool: asyncpg.Pool  # connections on the escrow_bank schema

    async def transfer(self, instruction: Instruction) -> BankAnswer:
        """The answer for this instruction id: decided once (a counted rule is used up once), then repeated."""
        async with self.pool.acquire() as conn, conn.transaction():
            known = await conn.fetchrow(
                "SELECT accepted, reason, delay_seconds FROM bank_decisions WHERE instruction_id = $1",
                instruction.instruction_id,
            )
            if known is not None:
                return _answer(known["accepted"], known["reason"], known["delay_seconds"])
            answer = await _decide(conn, instruction)
            await conn.execute(
                "INSERT INTO bank_decisions (instruction_id, accepted, reason, delay_seconds) VALUES ($1, $2, $3, $4)",
                instruction.instruction_id,
                answer.accepted,
                answer.reason,
                answer.after.total_seconds(),
            )
        return answer


async def _decide(conn: asyncpg.Connection, instruction: Instruction) -> BankAnswer:
    subjects = [instruction.merchant_id, "*"]
    if instruction.ticket_trade_no is not None:
        subjects.insert(0, order_key(instruction.merchant_id, instruction.ticket_trade_no))
    rule = await conn.fetchrow(
        "SELECT subject, action, reason, delay_seconds FROM bank_rules"
        " WHERE subject = ANY($1::text[]) AND (remaining IS NULL OR remaining > 0)"
        " ORDER BY array_position($1::text[], subject) LIMIT 1 FOR UPDATE",
        subjects,
    )
    if rule is None:
        return BankAnswer(accepted=True)
    await conn.execute(
        "UPDATE bank_rules SET remaining = remaining - 1 WHERE subject = $1 AND remaining IS NOT NULL",
        rule["subject"],
    )
    if rule["action"] == "reject":
        return _answer(False, rule["reason"] or "rejected by the escrow bank", rule["delay_seconds"])
    return _answer(True, "", rule["delay_seconds"])


def _answer(accepted: bool, reason: str, delay_seconds: float) -> BankAnswer:
    return BankAnswer(accepted=accepted, reason=reason, after=timedelta(seconds=delay_seconds))


async def set_rule(
    conn: asyncpg.Connection,
    subject: str,
    action: str,
    *,
    reason: str = "",
    delay_seconds: float = 0,
    times: int | None = None,
) -> None:
    await conn.execute(
        """
        INSERT INTO bank_rules (subject, action, reason, delay_seconds, remaining) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (subject) DO UPDATE SET action = $2, reason = $3, delay_seconds = $4, remaining = $5
        """,
        subject,
        action,
        reason,
        delay_seconds,
        times,
    )


async def clear_rule(conn: asyncpg.Connection, subject: str) -> None:
    await conn.execute("DELETE FROM bank_rules WHERE subject = $1", subject)
