"""The results waiting for the processor to vouch for them: queued by the consumer in its transaction, claimed in
batches by the verifier (FOR UPDATE SKIP LOCKED: several verifiers never take the same row), and removed once
decided."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.payment_confirmation.domain.repeats import Order
from shared.contracts.payments import PaymentConfirmed


@dataclass(frozen=True)
class WaitingResult:
    message_id: uuid.UUID  # the result's message id: its events' ids derive from it
    payment: PaymentConfirmed  # what it claims, and becomes once the processor vouches for it
    fields: dict[str, str]  # as sent
    arrived_at: datetime
    attempts: int  # answers so far that left it waiting

    @property
    def order(self) -> Order:
        return (self.payment.merchant_id, self.payment.merchant_trade_no)


async def add(
    conn: asyncpg.Connection, results: Sequence[tuple[uuid.UUID, PaymentConfirmed, dict[str, str]]], now: datetime
) -> None:
    """Queue results, due at once, in their arrival order (one statement). A message queued already stays as it is."""
    if not results:
        return
    await conn.execute(
        """
        INSERT INTO waiting_results (message_id, merchant_id, merchant_trade_no, trade_no, payment, fields,
                                     arrived_at, due_at)
        SELECT id, m, o, t, p, f, $7, $7
        FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::jsonb[], $6::jsonb[])
             WITH ORDINALITY AS u(id, m, o, t, p, f, n)
        ORDER BY n
        ON CONFLICT (message_id) DO NOTHING
        """,
        [message_id for message_id, _, _ in results],
        [p.merchant_id for _, p, _ in results],
        [p.merchant_trade_no for _, p, _ in results],
        [p.trade_no for _, p, _ in results],
        [p.model_dump_json() for _, p, _ in results],
        [json.dumps(fields) for _, _, fields in results],
        now,
    )


async def claim_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[WaitingResult]:
    """Lock up to `limit` results due by `now` (the longest due first), skipping rows another verifier holds;
    returned in arrival order, the order in which they are decided."""
    rows = await conn.fetch(
        """
        SELECT seq, message_id, payment, fields, arrived_at, attempts
        FROM waiting_results
        WHERE due_at <= $1
        ORDER BY due_at, seq
        LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        now,
        limit,
    )
    return [
        WaitingResult(
            message_id=r["message_id"],
            payment=PaymentConfirmed.model_validate_json(r["payment"]),
            fields=json.loads(r["fields"]),
            arrived_at=r["arrived_at"],
            attempts=r["attempts"],
        )
        for r in sorted(rows, key=lambda r: r["seq"])
    ]


async def ask_again(conn: asyncpg.Connection, retries: Sequence[tuple[uuid.UUID, datetime, str]]) -> None:
    """Results the processor's answer left waiting: due again at their time, one answer more counted."""
    if not retries:
        return
    await conn.execute(
        """
        UPDATE waiting_results w SET due_at = u.due, note = u.note, attempts = w.attempts + 1
        FROM unnest($1::uuid[], $2::timestamptz[], $3::text[]) AS u(id, due, note)
        WHERE w.message_id = u.id
        """,
        [message_id for message_id, _, _ in retries],
        [due for _, due, _ in retries],
        [note for _, _, note in retries],
    )


async def postpone(conn: asyncpg.Connection, message_ids: Sequence[uuid.UUID], until: datetime, note: str) -> None:
    """Results the processor could not be asked about: due again at `until`; no answer counted, nothing decided."""
    await conn.execute(
        "UPDATE waiting_results SET due_at = $2, note = $3 WHERE message_id = ANY($1::uuid[])",
        message_ids,
        until,
        note,
    )


async def remove(conn: asyncpg.Connection, message_ids: Sequence[uuid.UUID]) -> None:
    """Results decided (their payment recorded, or their refusal): they wait no more."""
    if message_ids:
        await conn.execute("DELETE FROM waiting_results WHERE message_id = ANY($1::uuid[])", message_ids)
