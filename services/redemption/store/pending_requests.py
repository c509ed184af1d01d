"""The `pending_requests` table: requests parked until their ticket's TicketsIssued arrives, or their deadline.

Claiming uses FOR UPDATE SKIP LOCKED: a waiting request is decided exactly once, by whichever transaction claims
it first — the TicketsIssued handler (usual case) or the sweeper (deadline passed, or the ticket committed while
the request was being parked, so neither transaction saw the other).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.redemption.domain import Refund, Request, Ticket, WriteOff, WriteOffAction
from shared.ecticket.replies import Asker
from shared.ecticket.write_off_codes import CodeKey

CLAIM_LIMIT = 500  # waiting requests decided per transaction


@dataclass(frozen=True)
class Waiting:
    asker: Asker
    command: Request
    deadline: datetime


async def park(conn: asyncpg.Connection, waiting: Waiting, received_at: datetime, key: CodeKey) -> None:
    command, asker = waiting.command, waiting.asker
    await conn.execute(
        """
        INSERT INTO pending_requests (message_id, request_id, operation, merchant_id, platform_id, signer_id,
                                      ticket_no, write_off_hash, command, received_at, deadline, door)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
        ON CONFLICT DO NOTHING
        """,
        asker.message_id,
        asker.request_id,
        asker.operation,
        asker.merchant_id,
        asker.platform_id,
        asker.signer_id,
        command.ticket_no if isinstance(command, Refund) else None,
        command.write_off_hash or None,
        encode(command, key),
        received_at,
        waiting.deadline,
        asker.door,
    )


async def claim_for(conn: asyncpg.Connection, tickets: Sequence[Ticket], key: CodeKey) -> list[Waiting]:
    """Requests waiting for any of these tickets, in arrival order (removed: the caller decides them now)."""
    return await _claim(
        conn,
        key,
        "ticket_no = ANY($1::text[]) OR write_off_hash = ANY($2::text[])",
        [t.ticket_no for t in tickets],
        [t.write_off_hash for t in tickets],
    )


async def claim_ready(conn: asyncpg.Connection, now: datetime, key: CodeKey) -> list[Waiting]:
    """Requests whose wait is over, or whose ticket is known by now."""
    return await _claim(
        conn,
        key,
        """deadline <= $1 OR EXISTS (SELECT 1 FROM tickets t
                                       WHERE t.ticket_no = p.ticket_no OR t.write_off_hash = p.write_off_hash)""",
        now,
    )


async def _claim(conn: asyncpg.Connection, key: CodeKey, condition: str, *args: object) -> list[Waiting]:
    rows = await conn.fetch(
        f"""
        DELETE FROM pending_requests WHERE message_id IN (
            SELECT message_id FROM pending_requests p WHERE {condition}
            ORDER BY seq LIMIT {CLAIM_LIMIT} FOR UPDATE SKIP LOCKED)
        RETURNING *
        """,
        *args,
    )
    return [_waiting(r, key) for r in sorted(rows, key=lambda r: r["seq"])]


def _waiting(row: asyncpg.Record, key: CodeKey) -> Waiting:
    asker = Asker(
        message_id=row["message_id"],
        request_id=row["request_id"],
        operation=row["operation"],
        merchant_id=row["merchant_id"],
        platform_id=row["platform_id"],
        signer_id=row["signer_id"],
        door=row["door"],
    )
    return Waiting(asker, decode(row["command"], key), row["deadline"])


def encode(command: Request, key: CodeKey) -> str:
    """The command as the `command` column keeps it (its dataclass fields, and which class). The WriteOffNo a
    WriteOff echoes in its reply is kept sealed (bound to its hash), never in the clear."""
    fields = dataclasses.asdict(command)
    if isinstance(command, WriteOff):
        code = fields.pop("write_off_no")
        fields["write_off_sealed"] = key.seal(command.write_off_hash, code) if code is not None else None
    return json.dumps({"type": type(command).__name__, **fields})


def decode(text: str, key: CodeKey) -> Request:
    fields = json.loads(text)
    kind = fields.pop("type")
    if kind == "WriteOff":
        sealed = fields.pop("write_off_sealed", None)
        code = key.open(fields["write_off_hash"], sealed) if sealed is not None else None
        return WriteOff(**{**fields, "action": WriteOffAction(fields["action"]), "write_off_no": code})
    return Refund(**fields)
