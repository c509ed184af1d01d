"""Daily bank reconciliation over the real broker and database: the bank's statement against the ledger, line by line.

The first two tests feed settlement synthetic events (the payments and the bank's lines, as their producers publish
them) on a past statement day of their own, so a missing credit, a wrong amount and an extra credit are exactly what
the test says; the last one pays at the processor simulator and lets the bank simulator read the processor's
reconciliation file, as in production.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg
import pytest

from services.escrow_settlement.domain.payouts import payout_id
from services.escrow_settlement.domain.reconciliation import ReconciliationKind
from shared.clock import TAIPEI, business_date
from shared.contracts.bank import credit_line_id
from shared.sandbox.merchant import MerchantClient, unique
from shared.sandbox.tap import Tap
from shared.settings import Settings
from tests.support.merchants import PICKUP, fresh_merchant
from tests.support.orders import issue_data, pay
from tests.support.processes import run_module
from tests.support.settlement import (
    History,
    core_ledger,
    payout_run,
    publish,
    settled,
    statement_closed,
    synthetic_merchant,
)

pytestmark = pytest.mark.usefixtures("platform")
SETTLEMENT_CLI, BANK_CLI = "services.escrow_settlement.cli", "deploy.simulators.bank.cli"
TODAY = business_date(datetime.now(UTC))


async def unclosed_day(db: asyncpg.Pool) -> date:
    """A past statement day of the test's own: not closed yet in this database (the bank simulator only ever closes
    days it was running on; an earlier run of these tests may have closed some). Within escrow (90 days), so
    redemption, which also learns these orders, does not expire their vouchers."""
    closed = {
        r["statement_date"] for r in await db.fetch("SELECT statement_date FROM escrow_settlement.recon_statement_days")
    }
    free = [day for n in range(5, 80) if (day := TODAY - timedelta(days=n)) not in closed]
    assert free, "every past statement day of the last 80 is closed in this database: use a fresh one"
    return random.choice(free)


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), tzinfo=TAIPEI).astimezone(UTC)


async def cli(module: str, *args: str, expect: int = 0) -> str:
    status, output = await run_module(module, *args)
    assert status == expect, output
    return output


async def items_of(db: asyncpg.Pool, merchant_id: str) -> dict[str, str]:
    rows = await db.fetch(
        "SELECT item_key, status FROM escrow_settlement.recon_items WHERE merchant_id = $1", merchant_id
    )
    return {r["item_key"]: r["status"] for r in rows}


async def until(db: asyncpg.Pool, merchant_id: str, wanted: dict[str, str], seconds: float = 30) -> dict[str, str]:
    """The merchant's reconciliation items once they have these statuses (polling with a deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not wanted.items() <= (items := await items_of(db, merchant_id)).items():
        assert loop.time() < deadline, f"reconciliation items {items}, expected {wanted}"
        await asyncio.sleep(0.1)
    return items


async def exceptions_of(db: asyncpg.Pool, merchant_id: str) -> set[tuple[str, str]]:
    rows = await db.fetch(
        "SELECT kind, subject FROM escrow_settlement.ledger_exceptions WHERE merchant_id = $1", merchant_id
    )
    return {(r["kind"], r["subject"]) for r in rows}


async def test_a_missing_credit_a_wrong_amount_and_an_extra_credit_are_reported_and_hold_exactly_their_money(
    merchant: MerchantClient, db: asyncpg.Pool, tap: Tap
) -> None:
    day = await unclosed_day(db)
    h = History(synthetic_merchant(), noon(day))
    m = h.merchant_id
    [a] = h.paid_order(500)  # the bank credits it: clean
    [b] = h.paid_order(800, credited=False)  # the bank never received it
    [c] = h.paid_order(1200, banked=1100)  # the bank booked less than the ledger says was paid
    [r] = h.paid_order(400)  # clean, and refunded with a fee
    [q] = h.paid_order(600, credited=False)  # never received, and refunded: neither its fee nor its refund may go
    extra = h.bank_credit(700, None, "XB" + unique()[:18])  # money nobody paid through the platform
    for ticket in (a, b, c):
        h.written_off(ticket)
    h.refunded(r, fee=40)
    h.refunded(q, fee=60)
    key = {t: f"{m}/{h.orders[t]}" for t in (a, b, c, r, q)}
    line = {t: credit_line_id(h.trade_nos[h.orders[t]]) for t in (a, b, c, r, q)}
    await publish(merchant.producer, h.events)
    await settled(db, [m], core_ledger(h.events)[0], credits=3)  # A, C and R have their credit line
    before_closing = {
        line[a]: "matched", line[r]: "matched", line[c]: "amount_differs",  # a wrong amount: at once
        line[b]: "open", line[q]: "open", extra.envelope.payload["line_id"]: "open",  # until the day is closed
    }  # fmt: skip
    assert await until(db, m, before_closing) == before_closing

    await publish(merchant.producer, [statement_closed(day, h.events, datetime.now(UTC))])
    await until(db, m, {line[b]: "ledger_only", line[q]: "ledger_only", extra.envelope.payload["line_id"]: "bank_only"})
    assert await exceptions_of(db, m) >= {
        ("bank_amount_differs", key[c]), ("ledger_without_bank_line", key[b]), ("ledger_without_bank_line", key[q]),
        ("bank_line_without_ledger", extra.envelope.payload["line_id"]),
    }  # fmt: skip
    critical = await db.fetch(
        "SELECT kind, subject FROM escrow_settlement.alerts WHERE merchant_id = $1 AND severity = 'critical'", m
    )
    assert {(r["kind"], r["subject"]) for r in critical} >= {("bank_amount_differs", key[c])}

    first = await payout_run(db, day, [m])
    # Payable 500 (A) + 800 (B) + 1,200 (C), fees 40 (R) + 60 (Q): only A's 500 and R's fee go out; R is refunded.
    assert (first["payouts"], first["paid_out"], first["refunds"], first["refunded"]) == (1, 540, 1, 360)
    assert (first["held"], first["held_back"]) == (4, 800 + 1200 + 60 + 540)
    held = await db.fetch(
        "SELECT subject, detail FROM escrow_settlement.alerts WHERE merchant_id = $1 AND kind = 'payout_held_unmatched'",
        m,
    )
    amounts = {row["subject"]: row["detail"].split()[0] for row in held}  # one notice per order
    assert amounts == {key[b]: "NT$800", key[c]: "NT$1200", key[q]: "NT$600"}  # Q: its fee and its refund
    statement = json.loads(
        await cli(SETTLEMENT_CLI, "statement", "--merchant-id", m, "--date", day.isoformat(), "--format", "json")
    )
    assert statement["held"] == 2600
    assert {(u["line_id"], u["status"]) for u in statement["unmatched"]} == {
        (line[b], "ledger_only"), (line[c], "amount_differs"), (line[q], "ledger_only"),
        (extra.envelope.payload["line_id"], "bank_only"),
    }  # fmt: skip
    listed = await cli(SETTLEMENT_CLI, "reconciliation", "list", "--merchant-id", m, expect=1)
    assert "4 difference(s)" in listed and line[b] in listed and line[a] not in listed

    # B's credit turns up on the next day's statement, and operations accept C's difference: both are paid out.
    late = h.bank_credit(800, h.orders[b], h.trade_nos[h.orders[b]], on=day + timedelta(days=1))
    await publish(merchant.producer, [late])
    await until(db, m, {line[b]: "matched"})
    await cli(SETTLEMENT_CLI, "reconciliation", "resolve", "--item", line[c], "--note", "bank corrected by transfer")
    second = await payout_run(db, day, [m])
    assert (second["payouts"], second["paid_out"], second["refunds"], second["held_back"]) == (1, 2000, 0, 600)
    alerts = await db.fetch("SELECT kind, subject FROM escrow_settlement.alerts WHERE merchant_id = $1", m)
    kinds = {(row["kind"], row["subject"]) for row in alerts}
    assert {("bank_difference_cleared", key[b]), ("bank_difference_resolved", key[c])} <= kinds
    payouts = await tap.wait_for(lambda s: s.type == "PayoutInstructed" and s.payload["merchant_id"] == m, count=2)
    instructed = {s.payload["instruction_id"]: s.payload["amount"] for s in payouts}
    assert instructed == {str(payout_id(m, day, 0)): 540, str(payout_id(m, day, 1)): 2000}


async def test_a_clean_statement_reconciles_to_zero_differences_and_the_banks_debits_match_its_transfers(
    merchant: MerchantClient, db: asyncpg.Pool, tap: Tap
) -> None:
    day = await unclosed_day(db)
    h = History(synthetic_merchant(), noon(day))
    m = h.merchant_id
    tickets = [t for _ in range(4) for t in h.paid_order(300, 200)]  # vouchers of 300, 200, 300, 200...
    for ticket in tickets[:5]:
        h.written_off(ticket)  # 300 + 200 + 300 + 200 + 300 released to the merchant
    h.refunded(tickets[5], fee=20)  # a 200 voucher: 180 back to the consumer, 20 to the merchant
    await publish(merchant.producer, h.events)
    await settled(db, [m], core_ledger(h.events)[0])
    await publish(merchant.producer, [statement_closed(day, h.events, datetime.now(UTC))])
    closed = "SELECT 1 FROM escrow_settlement.recon_statement_days WHERE statement_date = $1"
    for _ in range(300):
        if await db.fetchval(closed, day):
            break
        await asyncio.sleep(0.1)
    credits = {credit_line_id(no): "matched" for no in h.trade_nos.values()}
    assert await until(db, m, credits) == credits

    summary = await payout_run(db, day, [m])
    assert (summary["payouts"], summary["paid_out"], summary["refunds"], summary["refunded"]) == (1, 1320, 1, 180)
    assert summary["held"] == 0
    instructions = await tap.wait_for(lambda s: s.type in ("PayoutInstructed", "RefundInstructed")
                                      and s.payload["merchant_id"] == m, count=2)  # fmt: skip
    debits = {f"debit/{s.payload['instruction_id']}": "matched" for s in instructions}
    assert len(debits) == 2
    # The bank simulator confirms each transfer and books its debit line: both match the ledger's confirmations.
    assert await until(db, m, debits) == {**credits, **debits}
    kinds = [k.value for k in ReconciliationKind]
    raised = "SELECT count(*) FROM escrow_settlement.alerts WHERE merchant_id = $1 AND kind = ANY($2::text[])"
    assert await db.fetchval(raised, m, kinds) == 0  # no difference, not even one that cleared later
    listed = await cli(SETTLEMENT_CLI, "reconciliation", "list", "--merchant-id", m, "--date", day.isoformat())
    assert listed.strip() == "0 difference(s), 0 item(s) listed"
    at_a_glance = json.loads(await cli(SETTLEMENT_CLI, "reconciliation", "day", "--date", day.isoformat()))
    assert at_a_glance["closed"] is True and at_a_glance["matched"] >= len(credits)


async def checkout_and_issue(merchant: MerchantClient, tap: Tap, merchant_id: str, trade_no: str) -> dict[str, Any]:
    """A consumer pays NT$500 at the processor simulator; the merchant asks for one pickup voucher."""
    paid = await pay(merchant_id, trade_no, 500)
    data = issue_data(trade_no, {PICKUP: 1}, merchant_id=merchant_id, free=False)
    await merchant.send_request(merchant.request("Issue", data, merchant_id=merchant_id))
    await tap.wait_for(lambda s: s.type == "TicketsIssued" and s.payload["ticket_trade_no"] == trade_no, seconds=30)
    return paid


async def test_a_real_checkout_is_credited_by_the_bank_and_matched_and_the_banks_statement_rules_are_caught(
    topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    m = await fresh_merchant(topics)
    clean, omitted, short = unique("RC"), unique("RC"), unique("RC")
    await cli(BANK_CLI, "statement-rule", "--subject", f"{m}/{omitted}", "--omit")
    await cli(BANK_CLI, "statement-rule", "--subject", f"{m}/{short}", "--amount", "450")
    paid = {no: await checkout_and_issue(merchant, tap, m, no) for no in (clean, omitted, short)}
    lines = {no: credit_line_id(paid[no]["TradeNo"]) for no in paid}
    extra = await cli(BANK_CLI, "statement-rule", "--extra-credit", "700", "--merchant-id", m)
    extra_line = credit_line_id(extra.split()[-1])

    await until(db, m, {lines[clean]: "matched", lines[short]: "amount_differs", extra_line: "open"})
    [credit] = await tap.wait_for(lambda s: s.type == "BankStatementLine" and s.payload["line_id"] == lines[clean])
    assert (credit.payload["amount"], credit.payload["merchant_trade_no"], credit.payload["statement_date"]) == (
        500, clean, TODAY.isoformat()
    )  # fmt: skip
    # The omitted trade was read and left out: its payment waits for a credit (and its money is held meanwhile).
    await until(db, m, {lines[omitted]: "open"})
    read = "SELECT trade_amount, booked_amount FROM escrow_bank.credited_trades WHERE trade_no = $1"
    for _ in range(100):  # the bank reads the processor's file every second
        if row := await db.fetchrow(read, paid[omitted]["TradeNo"]):
            break
        await asyncio.sleep(0.1)
    assert row is not None and (row["trade_amount"], row["booked_amount"]) == (500, None)
    assert not tap.matching(lambda s: s.type == "BankStatementLine" and s.payload["line_id"] == lines[omitted])
    assert ("bank_amount_differs", f"{m}/{short}") in await exceptions_of(db, m)
    listed = await cli(SETTLEMENT_CLI, "reconciliation", "list", "--merchant-id", m, expect=1)
    assert f"{lines[short]}: amount_differs — ledger payment NT$500" in listed and "bank credit NT$450" in listed
