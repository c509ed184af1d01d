"""Money facts some service could not apply (its dead letters), as the ledger's own list of what it may lack.

Every service announces a dead letter with MessageRejected and its end with DeadLetterResolved on the rejections
topic (one partition per source topic, so the two arrive in order). Settlement keeps the ones that touch money;
the full check (`cli check`) reports each open one as a violation, so a lost payment or ticket fact is never
"0 violations".
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from services.escrow_settlement.store import unapplied
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Outgoing, payload_of
from shared.contracts.rejections import DeadLetterResolved, MessageRejected
from shared.infra.messages import Inbound, Parsed


async def on_rejection(conn: asyncpg.Connection, parsed: Parsed[EventEnvelope], _record: Inbound) -> Sequence[Outgoing]:
    event = payload_of(parsed.body)
    if isinstance(event, MessageRejected) and event.touches_money:
        await unapplied.record(conn, event)
    elif isinstance(event, DeadLetterResolved):
        await unapplied.resolve(conn, event)
    return []
