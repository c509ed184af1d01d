"""No stranded money, on the real platform: a consumer's payment for an order that is never issued, or paid twice,
comes back to the consumer in full.

Each case pays at the sandbox processor (the bank learns the money from the processor's reconciliation file), lets
the platform decide, ends the merchant's business day on its test clock, runs the payout run, and follows the
refund to the bank's confirmation: the consumer's accounts end at zero, the journal has the refund's own entries,
and the full check (`cli check`) finds nothing wrong with the merchant. Cases: an amount that does not match the
vouchers (2007), a payment no Issue request claims (2011, after ISSUANCE_UNCLAIMED_PAYMENT_SECONDS, 10 s in tests),
a merchant disabled before its waiting order was paid, and a second genuine payment of an issued order.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.escrow_settlement.domain.accounts import OrderRef
from services.escrow_settlement.domain.payouts import refund_id, settlement_day
from shared.admin.clocks import advance_clock
from shared.admin.publish import put_merchants
from shared.contracts.events import wrap
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.processor_query import processor_url
from shared.infra.compacted import CompactedView
from shared.merchants.model import MerchantRecord
from shared.sandbox.checkout import checkout
from shared.sandbox.merchant import MerchantClient, unique
from shared.sandbox.tap import Seen, Tap
from shared.settings import Settings
from shared.topics import MERCHANT_CONFIG
from tests.support.merchants import PICKUP, PICKUP_FACE, fresh_merchant
from tests.support.orders import issue, issue_data, pay, reply_data
from tests.support.processes import ROOT
from tests.support.settlement import account_balances

pytestmark = pytest.mark.usefixtures("platform")
SETTLEMENT_CLI = "services.escrow_settlement.cli"


async def cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", SETTLEMENT_CLI, *args, cwd=ROOT, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def request_issue(merchant: MerchantClient, merchant_id: str, trade_no: str) -> str:
    """Send an Issue request for one NT$500 pickup voucher of a paid order; its request id."""
    data = issue_data(trade_no, {PICKUP: 1}, merchant_id=merchant_id, free=False)
    return await merchant.send_request(merchant.request("Issue", data, merchant_id=merchant_id))


def about(merchant_id: str, trade_no: str, *types: str) -> Any:
    return lambda s: (
        s.type in types
        and s.payload.get("merchant_id") == merchant_id
        and trade_no in (s.payload.get("merchant_trade_no"), s.payload.get("ticket_trade_no"))
    )


async def entry(tap: Tap, merchant_id: str, trade_no: str, kind: str) -> Seen:
    """The journal entry of this kind that moves the order's money (a transfer's entries name no order: they are
    found by their postings)."""
    key = f"{merchant_id}/{trade_no}"

    def posted(s: Seen) -> bool:
        return (
            s.type == "LedgerEntryPosted"
            and s.payload["merchant_id"] == merchant_id
            and s.payload["kind"] == kind
            and any(p["owner"] == key for p in s.payload["postings"])
        )

    [seen] = await tap.wait_for(posted, seconds=40)
    return seen


async def refund_confirmed(
    topics: Settings, tap: Tap, merchant_id: str, trade_no: str, amount: int, paid_on: date
) -> dict[str, Any]:
    """End the merchant's day, run its payout run until the consumer refund is instructed (the bank's statement must
    first match the payment: until then the run holds it back), and wait for the bank to confirm it."""
    await advance_clock(topics, merchant_id, timedelta(days=1))
    args = ("payout-run", "--date", paid_on.isoformat(), "--merchant-id", merchant_id)
    summary: dict[str, Any] = {}
    for _ in range(150):
        code, out, err = await cli(*args)
        if code == 0:
            summary = json.loads(out)
            if summary["refunds"]:
                break
        else:  # the service has not yet seen the merchant's clock move on
            assert code == 2 and "has not ended" in err, err
        await asyncio.sleep(0.3)
    assert (summary.get("refunds"), summary.get("refunded"), summary.get("payouts")) == (1, amount, 0), summary
    instruction = str(refund_id(OrderRef(merchant_id, trade_no), paid_on, 0))
    [instructed] = await tap.wait_for(
        lambda s: s.type == "RefundInstructed" and s.payload["instruction_id"] == instruction
    )
    assert (instructed.payload["ticket_trade_no"], instructed.payload["amount"]) == (trade_no, amount)
    answers = await tap.wait_for(
        lambda s: s.type in ("TransferConfirmed", "TransferRejected") and s.payload["instruction_id"] == instruction,
        seconds=40,
    )
    assert {s.type for s in answers} == {"TransferConfirmed"}
    await entry(tap, merchant_id, trade_no, "refund_confirmed")
    return summary


async def no_violation_of(merchant_id: str) -> None:
    _, out, err = await cli("check")
    mine = [line for line in out.splitlines() if line.startswith("VIOLATION") and merchant_id in line]
    assert mine == [], out + err
    assert out.strip().splitlines()[-1].endswith("violation(s)"), out + err


async def consumer_accounts(db: asyncpg.Pool, merchant_id: str) -> dict[str, int]:
    return {a: v for a, v in (await account_balances(db, [merchant_id])).items() if a.startswith("consumer_")}


async def test_a_payment_that_does_not_match_the_vouchers_is_refunded_in_full(
    topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    m, trade_no = await fresh_merchant(topics), unique("SM")
    request_id = await request_issue(merchant, m, trade_no)
    await pay(m, trade_no, 400)  # the voucher is worth NT$500
    today = settlement_day(datetime.now(UTC))

    accepted = await reply_data(tap, request_id, m)  # at once (ECTicket): the outcome is the final IssueFailed
    assert (accepted["RtnCode"], accepted["Status"]) == (1, 3)
    [failed] = await tap.wait_for(about(m, trade_no, "IssueFailed"))
    assert failed.payload["final"] is True and failed.payload["rtn_code"] == 2007
    refund = await entry(tap, m, trade_no, "failed_order_refund")
    assert {(p["account_kind"], p["owner"], p["amount"]) for p in refund.payload["postings"]} == {
        ("escrow_held", f"{m}/{trade_no}", 400),
        ("consumer_refund_payable", f"{m}/{trade_no}", -400),
    }

    again = await request_issue(merchant, m, trade_no)  # the order number is used up, and the merchant is told why
    refused = await reply_data(tap, again, m)
    assert refused["RtnCode"] == RtnCode.ORDER_DUPLICATE
    assert f"order {trade_no} failed for good (2007" in refused["RtnMsg"] and "refunded in full" in refused["RtnMsg"]

    await refund_confirmed(topics, tap, m, trade_no, 400, today)
    assert await consumer_accounts(db, m) == {}
    assert await account_balances(db, [m]) == {}  # nothing of the order left anywhere: the consumer has it back
    await no_violation_of(m)


async def test_a_payment_no_issue_request_claims_is_refunded_in_full_and_its_order_number_is_used_up(
    topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    m, trade_no = await fresh_merchant(topics), unique("SU")
    await pay(m, trade_no, PICKUP_FACE)
    today = settlement_day(datetime.now(UTC))
    await tap.wait_for(about(m, trade_no, "PaymentConfirmed"))
    assert not tap.matching(about(m, trade_no, "IssueFailed"))  # waits for its request first (10 s in tests)

    [failed] = await tap.wait_for(about(m, trade_no, "IssueFailed"), seconds=40)
    assert failed.payload["final"] is True and failed.payload["rtn_code"] == RtnCode.PAYMENT_UNCLAIMED
    assert failed.payload["request_id"] == "" and failed.payload["merchant_trade_no"] == trade_no
    await entry(tap, m, trade_no, "failed_order_refund")

    late = await request_issue(merchant, m, trade_no)
    refused = await reply_data(tap, late, m)
    assert refused["RtnCode"] == RtnCode.ORDER_DUPLICATE
    assert "no Issue request claimed payment" in refused["RtnMsg"] and "refunded in full" in refused["RtnMsg"]
    assert not tap.matching(about(m, trade_no, "TicketsIssued"))

    await refund_confirmed(topics, tap, m, trade_no, PICKUP_FACE, today)
    assert await account_balances(db, [m]) == {}
    await no_violation_of(m)


async def test_the_full_check_reports_a_payment_nobody_decided_without_holding_back_its_refund(
    topics: Settings, tap: Tap, db: asyncpg.Pool
) -> None:
    """`cli check` with a stricter wait than issuance's (1 s instead of 10 s): the payment is reported as stranded,
    alerted but not quarantined, so issuance's failure refunds it as usual."""
    m, trade_no = await fresh_merchant(topics), unique("SR")
    await pay(m, trade_no, PICKUP_FACE)
    await entry(tap, m, trade_no, "payment")
    await asyncio.sleep(1.5)
    strict = {"ISSUANCE_UNCLAIMED_PAYMENT_SECONDS": "1", "SETTLEMENT_UNRESOLVED_MARGIN_SECONDS": "0"}
    code, out, err = await cli("check", env=strict)
    [line] = [line for line in out.splitlines() if m in line]
    assert code == 1 and line.startswith(f"VIOLATION payment_unresolved {m}/{trade_no}: NT$500 paid"), out + err
    assert await db.fetchval("SELECT count(*) FROM escrow_settlement.quarantine WHERE subject LIKE $1", m + "%") == 0
    [violated] = await tap.wait_for(lambda s: s.type == "InvariantViolated" and s.payload["merchant_id"] == m)
    assert violated.payload["rule"] == "payment_unresolved" and "not quarantined" in violated.payload["detail"]

    await entry(tap, m, trade_no, "failed_order_refund")  # issuance gave it up after its own 10 s: refunded
    assert await consumer_accounts(db, m) == {f"consumer_refund_payable:{m}/{trade_no}": PICKUP_FACE}
    await no_violation_of(m)


async def test_a_waiting_order_of_a_merchant_disabled_before_its_payment_is_refunded_in_full(
    topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    """The Issue request was accepted and waits for its payment; the merchant is disabled; the consumer pays. The
    processor records the trade (and the bank gets the money), payment-confirmation confirms it (real money, whatever
    the merchant's state); issuance cannot issue for a disabled merchant and fails the order for good."""
    m, trade_no = await fresh_merchant(topics), unique("SD")
    await request_issue(merchant, m, trade_no)
    result = await checkout(processor_url(), m, trade_no, PICKUP_FACE, deliver=False)
    today = settlement_day(datetime.now(UTC))
    await disable(topics, m)
    probe = await request_issue(merchant, m, unique("SP"))  # once issuance refuses it, it knows the merchant is off
    [refused] = await tap.wait_for(lambda s: s.type == "RequestReplied" and s.payload["request_id"] == probe)
    assert refused.payload["rtn_code"] == RtnCode.MERCHANT_UNKNOWN
    await merchant.send_payment(result)  # the processor vouches for it: confirmed although the merchant is off
    [confirmed] = await tap.wait_for(about(m, trade_no, "PaymentConfirmed"), seconds=40)
    assert confirmed.payload["amount"] == PICKUP_FACE
    [failed] = await tap.wait_for(about(m, trade_no, "IssueFailed"))
    assert failed.payload["final"] is True and failed.payload["rtn_code"] == RtnCode.MERCHANT_UNKNOWN
    await entry(tap, m, trade_no, "failed_order_refund")
    await refund_confirmed(topics, tap, m, trade_no, PICKUP_FACE, today)
    assert await account_balances(db, [m]) == {}
    await no_violation_of(m)


async def test_a_second_genuine_payment_of_an_issued_order_goes_back_to_the_consumer_in_full(
    topics: Settings, merchant: MerchantClient, tap: Tap, db: asyncpg.Pool
) -> None:
    m = await fresh_merchant(topics)
    order = await issue(merchant, tap, m, {PICKUP: 1}, paid=PICKUP_FACE)
    trade_no, today = order["ticket_trade_no"], settlement_day(datetime.now(UTC))
    await checkout(processor_url(), m, trade_no, PICKUP_FACE, again=True)  # the consumer is charged twice

    second = await tap.wait_for(about(m, trade_no, "PaymentConfirmed"), count=2)
    [duplicate] = [s for s in second if s.payload.get("duplicate_of")]
    assert duplicate.payload["duplicate_of"] == order["payment"]["trade_no"]
    await entry(tap, m, trade_no, "duplicate_payment")
    await entry(tap, m, trade_no, "duplicate_refund")
    [raised] = await tap.wait_for(
        lambda s: s.type == "SettlementExceptionRaised" and s.payload["kind"] == "duplicate_payment"
        and s.payload["merchant_id"] == m
    )  # fmt: skip
    assert "refunded in full" in raised.payload["detail"]
    assert len(tap.matching(about(m, trade_no, "TicketsIssued"))) == 1  # the first payment stands: one issuance

    await refund_confirmed(topics, tap, m, trade_no, PICKUP_FACE, today)
    assert await account_balances(db, [m]) == {f"escrow_held:{m}/{trade_no}": PICKUP_FACE}  # the voucher's money
    await no_violation_of(m)


async def test_the_escrow_end_is_fixed_by_the_escrow_days_at_payment_not_at_issuance(
    topics: Settings, merchant: MerchantClient, tap: Tap
) -> None:
    m, trade_no = await fresh_merchant(topics, escrow_days=90), unique("SE")
    await pay(m, trade_no, PICKUP_FACE)
    [paid] = await tap.wait_for(about(m, trade_no, "PaymentConfirmed"))
    assert paid.payload["escrow_days"] == 90
    await reconfigure(topics, m, escrow_days=30)
    # Issuance has the new setting once an order whose payment event predates escrow days gets 30 (it then falls
    # back on the merchant's current setting).
    for _ in range(20):
        probe = unique("SQ")
        older = PaymentConfirmed(merchant_id=m, merchant_trade_no=probe, trade_no="P" + probe[-19:],
                                 amount=PICKUP_FACE, payment_type="Credit_CreditCard", payment_date=datetime.now(UTC),
                                 simulated=True)  # fmt: skip
        out = wrap(older, event_id=uuid.uuid4(), occurred_at=datetime.now(UTC), producer="payment-confirmation",
                   correlation_id=older.key(), causation_id=None)  # fmt: skip
        await merchant.send_raw(out.topic, out.envelope.to_bytes(), key=out.key.encode())
        await request_issue(merchant, m, probe)
        [seen] = await tap.wait_for(about(m, probe, "TicketsIssued"))
        if seen.payload["escrow_days"] == 30:
            break
    else:
        raise AssertionError("issuance never saw the merchant's new escrow days")

    await request_issue(merchant, m, trade_no)
    [issued] = await tap.wait_for(about(m, trade_no, "TicketsIssued"))
    paid_on = datetime.fromisoformat(paid.payload["payment_date"])
    assert issued.payload["escrow_days"] == 90
    assert issued.payload["escrow_expiry_date"] == (settlement_day(paid_on) + timedelta(days=90)).isoformat()


async def reconfigure(topics: Settings, merchant_id: str, **changes: object) -> None:
    """Publish the merchant's record again with `changes` (as an operator's configuration change)."""
    view: CompactedView[MerchantRecord] = CompactedView(
        topics.kafka_bootstrap, MERCHANT_CONFIG, MerchantRecord.model_validate_json
    )
    await view.start()
    try:
        record = await view.lookup(merchant_id)
    finally:
        await view.stop()
    assert record is not None
    await put_merchants(topics.kafka_bootstrap, [record.model_copy(update=changes)])


async def disable(topics: Settings, merchant_id: str) -> None:
    await reconfigure(topics, merchant_id, enabled=False)
