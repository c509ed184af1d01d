"""A merchant's full day through the real platform: paid orders issued, tickets written off and refunded (with the
merchant's 10% fee) and cancelled, a gift voucher, the payout run with a bank rejection and its retry, consumer
refunds, escrow expiry on the sandbox test clock, statements — with the exact balance of every account."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.escrow_settlement.domain.accounts import OrderRef
from services.escrow_settlement.domain.payouts import payout_id, refund_id, settlement_day
from shared.admin.clocks import advance_clock
from shared.contracts.events import Outgoing
from shared.sandbox.merchant import MerchantClient
from shared.sandbox.tap import Seen, Tap
from shared.settings import Settings
from tests.support.merchants import GIFT, PICKUP, fresh_merchant
from tests.support.orders import issue
from tests.support.pos import Pos
from tests.support.processes import ROOT
from tests.support.settlement import account_balances, publish, stored_ledger

pytestmark = pytest.mark.usefixtures("platform")
SETTLEMENT_CLI, BANK_CLI = "services.escrow_settlement.cli", "deploy.simulators.bank.cli"
INPUTS = ("PaymentConfirmed", "TicketsIssued", "TicketWrittenOff", "WriteOffCancelled", "TicketRefunded",
          "RefundCancelled", "TicketExpired", "TransferConfirmed", "TransferRejected")  # fmt: skip


async def cli(module: str, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def payout_run_once_ended(day: date, merchant_id: str) -> dict[str, Any]:
    """`cli payout-run` for the merchant's `day`, asked again while the service's copy of the merchant's test clock
    (a compacted topic it tails) has not yet seen the day end: until then the run is refused (exit 2, not_ended)."""
    args = ("-m", SETTLEMENT_CLI, "payout-run", "--date", day.isoformat(), "--merchant-id", merchant_id)
    for _ in range(50):
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await process.communicate()
        if process.returncode == 0:
            return dict(json.loads(out))
        assert process.returncode == 2 and b"has not ended" in err, err.decode()
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the payout run for {day} stayed refused")


def of(merchant_id: str, *types: str) -> Any:
    return lambda s: s.type in types and s.payload.get("merchant_id") == merchant_id


async def entries_settle(tap: Tap, merchant_id: str, count: int) -> None:
    """Wait until `count` distinct journal entries of the merchant have been published."""
    await tap.wait_for_distinct(of(merchant_id, "LedgerEntryPosted"), count)


async def answered(tap: Tap, instruction_ids: list[str]) -> list[Seen]:
    """The bank's answer to each of these instructions (one per instruction: a relay may publish one twice)."""
    ids = set(instruction_ids)
    for _ in range(300):
        seen = tap.matching(lambda s: s.type in ("TransferConfirmed", "TransferRejected"))
        answers = {s.payload["instruction_id"]: s for s in seen if s.payload["instruction_id"] in ids}
        if len(answers) == len(ids):
            return list(answers.values())
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the bank did not answer all of {sorted(ids)}")


async def test_a_full_day_settles_every_dollar_exactly(
    topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    m = await fresh_merchant(topics)
    pos, today = Pos(merchant, tap, m), settlement_day(datetime.now(UTC))
    a = await issue(merchant, tap, m, {PICKUP: 2}, paid=1000)
    b, c, d = [await issue(merchant, tap, m, {PICKUP: 1}, paid=500) for _ in range(3)]
    g = await issue(merchant, tap, m, {GIFT: 1})
    (a1, a2), (b1,), (c1,), (d1,), (g1,) = (o["tickets"] for o in (a, b, c, d, g))
    assert (await pos.write_off(a1["write_off_no"]))["RtnCode"] == 1
    assert (await pos.refund(ticket_no=a2["ticket_no"]))["Fee"] == 50
    await pos.write_off(b1["write_off_no"])
    await pos.write_off(b1["write_off_no"], action="2")
    await pos.refund(ticket_no=c1["ticket_no"])
    await pos.refund(ticket_no=c1["ticket_no"], action="2")
    await pos.write_off(g1["write_off_no"])  # a gift voucher: considered, no money
    await entries_settle(tap, m, 11)  # 4 payments, 2 write-offs, 2 refunds, 2 reversals, 1 considered
    key = {o["ticket_trade_no"]: f"{m}/{o['ticket_trade_no']}" for o in (a, b, c, d)}
    ka, kb, kc, kd = key.values()
    assert await account_balances(db, [m]) == {
        f"escrow_held:{kb}": 500, f"escrow_held:{kc}": 500, f"escrow_held:{kd}": 500,
        f"merchant_payable:{m}": 500, f"merchant_fee_income:{m}": 50, f"consumer_refund_payable:{ka}": 450,
    }  # fmt: skip

    await cli(BANK_CLI, "bank-rule", "--subject", m, "--reject", "--times", "1", "--reason", "account closed")
    await advance_clock(topics, m, timedelta(days=1))  # the merchant's day ends: only then may it be paid out
    first = await payout_run_once_ended(today, m)
    assert (first["payouts"], first["paid_out"], first["refunds"], first["refunded"]) == (1, 550, 1, 450)
    attempt0, refund0 = str(payout_id(m, today, 0)), str(refund_id(OrderRef(m, a["ticket_trade_no"]), today, 0))
    outcomes = {s.payload["instruction_id"]: s.type for s in await answered(tap, [attempt0, refund0])}
    assert outcomes == {attempt0: "TransferRejected", refund0: "TransferConfirmed"}
    await tap.wait_for(lambda s: s.type == "LedgerAlertRaised" and s.payload["subject"] == attempt0)
    await entries_settle(tap, m, 15)  # payout sent + returned, refund sent + confirmed
    assert (await account_balances(db, [m]))[f"merchant_payable:{m}"] == 500  # the money is payable again

    second = await payout_run_once_ended(today, m)
    attempt1 = str(payout_id(m, today, 1))  # never the rejected id again: the bank has seen it fail
    assert (second["payouts"], second["paid_out"], second["refunds"]) == (1, 550, 0)
    assert [s.type for s in await answered(tap, [attempt1])] == ["TransferConfirmed"]
    await entries_settle(tap, m, 17)
    assert await account_balances(db, [m]) == {f"escrow_held:{k}": 500 for k in (kb, kc, kd)}
    todays = ("statement", "--merchant-id", m, "--date", today.isoformat())
    statement = json.loads(await cli(SETTLEMENT_CLI, *todays, "--format", "json"))
    assert (statement["opening"]["total"], statement["closing"]["total"]) == (0, 0)
    assert sum(mv["amount"] for mv in statement["movements"]) == 0
    write_off_event = tap.matching(of(m, "TicketWrittenOff"))[0].envelope.event_id
    assert {"cause_id": str(write_off_event), "amount": 500} in [
        {"cause_id": mv["cause_id"], "amount": mv["amount"]} for mv in statement["movements"]
    ]
    csv_lines = (await cli(SETTLEMENT_CLI, *todays)).splitlines()
    assert csv_lines[-1] == f"{m},{today.isoformat()},closing,,,,total,,,,0"

    await advance_clock(topics, m, timedelta(days=91))  # B, C and D were never used: escrow ends (day 90)
    expiries = await tap.wait_for(lambda s: s.type == "TicketExpired" and s.payload["merchant_id"] == m, count=3)
    assert (await pos.write_off(d1["write_off_no"]))["RtnCode"] == 1  # still redeemable; moves no money now
    await entries_settle(tap, m, 21)
    expired_on = settlement_day(datetime.fromisoformat(expiries[0].payload["at"]))  # the merchant's today
    await advance_clock(topics, m, timedelta(days=1))  # its day ends, and with it the run for the expiries is due
    third = await payout_run_once_ended(expired_on, m)
    assert (third["payouts"], third["paid_out"]) == (1, 1500)
    await answered(tap, [str(payout_id(m, expired_on, 0))])
    await entries_settle(tap, m, 23)
    entries, balances = await stored_ledger(db, [m])
    assert balances == {}  # 2,500 paid in = 450 refunded + 550 + 1,500 paid out: nothing left anywhere
    assert await account_balances(db, [m]) == {}

    inputs = {s.envelope.event_id: s for s in tap.matching(of(m, *INPUTS))}.values()
    await publish(merchant.producer, [_again(s) for s in inputs])  # every input event once more
    await asyncio.sleep(2)
    assert await stored_ledger(db, [m]) == (entries, balances)
    instructions = {s.envelope.event_id for s in tap.matching(of(m, "PayoutInstructed", "RefundInstructed"))}
    assert {str(i) for i in instructions} == {attempt0, attempt1, refund0, str(payout_id(m, expired_on, 0))}


def _again(seen: Seen) -> Outgoing:
    return Outgoing(seen.topic, seen.key or "", seen.envelope)
