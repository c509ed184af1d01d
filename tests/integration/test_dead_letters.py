"""Dead letters are visible, countable and closed only on purpose: a money fact no service could apply is an
`cli check` violation until an operator re-drives or dismisses it (real services, broker and database)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from shared.infra.seal import sealed_headers
from shared.sandbox.merchant import MerchantClient
from shared.topics import PAYMENT_EVENTS
from tests.support.processes import run_module

pytestmark = pytest.mark.usefixtures("platform")


def broken_payment(order: str) -> bytes:
    """A PaymentConfirmed whose payload lacks its amount: an envelope any consumer reads, a fact none can apply."""
    return json.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "PaymentConfirmed",
            "schema_version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
            "producer": "payment-confirmation",
            "key": f"3085676/{order}",
            "correlation_id": order,
            "causation_id": None,
            "payload": {"merchant_id": "3085676", "merchant_trade_no": order, "trade_no": "T1"},
        }
    ).encode()


async def rows_eventually(
    db: asyncpg.Pool, sql: str, *args: object, count: int, seconds: float = 30
) -> list[asyncpg.Record]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while len(rows := await db.fetch(sql, *args)) < count and loop.time() < deadline:  # noqa: ASYNC110 (polls)
        await asyncio.sleep(0.1)
    return list(rows)


async def test_a_payment_fact_no_service_can_apply_is_a_violation_until_an_operator_dismisses_it(
    merchant: MerchantClient, db: asyncpg.Pool
) -> None:
    raw = broken_payment(f"DL{uuid.uuid4().hex[:12]}")
    headers = sealed_headers(PAYMENT_EVENTS, b"3085676", raw)  # from the platform, but no service can apply it
    await merchant.producer.send_and_wait(PAYMENT_EVENTS, raw, key=b"3085676", headers=headers)
    letters = {}
    for schema in ("issuance", "escrow_settlement"):  # both consume payment events; each keeps its own letter
        [row] = await rows_eventually(db, f"SELECT * FROM {schema}.dead_letters WHERE value = $1", raw, count=1)
        assert (row["stage"], row["touches_money"]) == ("handle", True)
        letters[schema] = row
    where = f"{PAYMENT_EVENTS}/{letters['issuance']['partition']}/{letters['issuance']['offset']}"
    await rows_eventually(
        db, "SELECT * FROM escrow_settlement.unapplied_messages WHERE source_topic = $1 AND \"offset\" = $2",
        PAYMENT_EVENTS, letters["issuance"]["offset"], count=2,
    )  # fmt: skip

    status, listed = await run_module("shared.admin", "dead-letters", "list", "--service", "issuance")
    assert status == 0 and f"issuance #{letters['issuance']['id']} open handle money {where}" in listed
    status, checked = await run_module("services.escrow_settlement.cli", "check")
    assert status == 1
    assert f"dead_letter_unapplied issuance:{where}" in checked
    assert f"dead_letter_unapplied escrow_settlement:{where}" in checked

    status, redriven = await run_module("shared.admin", "dead-letters", "redrive", "--service", "issuance",
                                 "--id", str(letters["issuance"]["id"]), "--wait", "20")  # fmt: skip
    assert status == 1 and "re-drive failed" in redriven  # the fact is still broken: it stays open
    for schema, row in letters.items():
        status, said = await run_module("shared.admin", "dead-letters", "dismiss", "--service", schema,
                                 "--id", str(row["id"]), "--reason", "test: a forged payment")  # fmt: skip
        assert (status, said.strip()) == (0, f"{schema} #{row['id']}: dismissed")
    await rows_eventually(
        db, "SELECT * FROM escrow_settlement.unapplied_messages WHERE \"offset\" = $1 AND resolved_at IS NOT NULL"
        " AND source_topic = $2", letters["issuance"]["offset"], PAYMENT_EVENTS, count=2,
    )  # fmt: skip
    status, checked = await run_module("services.escrow_settlement.cli", "check")
    assert f"dead_letter_unapplied issuance:{where}" not in checked
