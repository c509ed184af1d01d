"""The pure issuance core: validating Issue Data, the payment join, codes, and building TicketsIssued."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.issuance import outbound
from services.issuance.domain.codes import (
    TICKET_ALPHABET,
    WRITE_OFF_ALPHABET,
    SystemRandomSource,
    new_ticket_no,
    new_write_off_no,
)
from services.issuance.domain.join import Fail, Issue, KnownPayment, Wait, join, unclaimed
from services.issuance.domain.orders import OrderRow, UsedOrder
from services.issuance.domain.request import Invalid, IssueOrder, validate
from services.issuance.domain.tickets import build_tickets_issued, escrow_expiry_date, fixed_escrow_days
from services.issuance.inbound import payment_outcomes
from shared.admin.seed import TEST_MERCHANT, dev_products
from shared.contracts.catalog import Product
from shared.contracts.common import FeeKind, IssueStatus, RefundFeeRule, TicketType
from shared.contracts.events import payload_of, wrap
from shared.contracts.issuance import IssueFailed, PaymentRef
from shared.contracts.payments import PaymentConfirmed
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.replies import Addressee
from shared.ecticket.write_off_codes import CodeKey, ProtectedCode
from shared.sandbox.merchant import open_reply
from shared.settings import DEV_CODE_KEY
from tests.support.edge import seeded_merchant

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 26)
CODE_KEY = CodeKey.from_hex(DEV_CODE_KEY)
CATALOGUE = {p.item_no: p for p in dev_products() if p.merchant_id == TEST_MERCHANT}


def issue(**fields: Any) -> dict[str, Any]:
    return {"MerchantID": TEST_MERCHANT, "IssueType": "3", **fields}


def line(item_no: str, amount: int = 1, **extra: Any) -> dict[str, Any]:
    return {"ItemNo": item_no, "TicketAmount": amount, **extra}


def accepted(data: dict[str, Any]) -> IssueOrder:
    order = validate(data, CATALOGUE.get, TODAY)
    assert isinstance(order, IssueOrder), order
    return order


def refused(data: dict[str, Any]) -> RtnCode:
    order = validate(data, CATALOGUE.get, TODAY)
    assert isinstance(order, Invalid), order
    return order.code


def test_a_paid_order_totals_its_pickup_vouchers_face_value() -> None:
    order = accepted(issue(MerchantTradeNo="M1", TicketInfo=[line("PU000500", 2), line("GF000030")]))
    assert (order.paid, order.pickup_total, order.ticket_count) == (True, 1000, 3)


def test_a_gift_only_order_needs_no_payment() -> None:
    order = accepted(issue(FreeTradeNo="F1", TicketInfo=[line("GF000030", 3)]))
    assert (order.paid, order.pickup_total) == (False, 0)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (issue(TicketInfo=[line("PU000500")]), RtnCode.ORDER_NO_CHOICE),
        (issue(MerchantTradeNo="M", FreeTradeNo="F", TicketInfo=[line("PU000500")]), RtnCode.ORDER_NO_CHOICE),
        (issue(FreeTradeNo="F", TicketInfo=[line("PU000500")]), RtnCode.GIFT_ORDER_HAS_PICKUP),
        (issue(MerchantTradeNo="M", TicketInfo=[line("GF000030")]), RtnCode.PAID_ORDER_WITHOUT_PICKUP),
        (issue(MerchantTradeNo="M", TicketInfo=[line("NOPE0001")]), RtnCode.ITEM_UNKNOWN),
        (issue(MerchantTradeNo="M", TicketInfo=[line("PUOLD001")]), RtnCode.ITEM_DELISTED),
        (issue(MerchantTradeNo="M", TicketInfo=[]), RtnCode.DATA_INVALID),
        (issue(MerchantTradeNo="M", TicketInfo=[line("PU000500", 0)]), RtnCode.DATA_INVALID),
        (issue(MerchantTradeNo="M-1", TicketInfo=[line("PU000500")]), RtnCode.DATA_INVALID),
        (issue(MerchantTradeNo="M" * 26, TicketInfo=[line("PU000500")]), RtnCode.DATA_INVALID),
        (
            issue(MerchantTradeNo="M", TicketInfo=[line("PU000500", 600), line("PU001200", 600)]),
            RtnCode.TICKET_LINES_INVALID,
        ),
        (
            issue(MerchantTradeNo="M", TicketInfo=[line("PU000500", ExpireDate="20271231")]),
            RtnCode.TICKET_LINES_INVALID,
        ),
        (issue(FreeTradeNo="F", TicketInfo=[line("GF000030", ExpireDate="20261125")]), RtnCode.TICKET_LINES_INVALID),
        (
            issue(FreeTradeNo="F", TicketInfo=[line("GF000030", StartDate="20261201", ExpireDate="20261130")]),
            RtnCode.TICKET_LINES_INVALID,
        ),
        (
            issue(MerchantTradeNo="M", IssueType="4", TicketInfo=[{"TicketAmount": 1, "ItemName": "x"}]),
            RtnCode.TICKET_LINES_INVALID,
        ),
    ],
)
def test_invalid_issue_data_is_refused_with_a_specific_code(data: dict[str, Any], code: RtnCode) -> None:
    assert refused(data) is code


def test_serial_number_issuance_takes_name_and_price_from_the_request() -> None:
    order = accepted(
        issue(
            MerchantTradeNo="S1",
            IssueType="4",
            TicketInfo=[{"ItemName": "Gala", "TicketPrice": 750, "TicketAmount": 2}],
        )
    )
    assert order.pickup_total == 1500 and order.lines[0].item_no is None


NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
DEADLINE = NOW + timedelta(minutes=15)


def paid(amount: int) -> KnownPayment:
    return KnownPayment(True, "T1", amount, NOW, None)


def test_the_join_issues_only_against_a_payment_of_exactly_the_face_value() -> None:
    assert join(1000, paid(1000), NOW, DEADLINE) == Issue()
    mismatch = join(1000, paid(999), NOW, DEADLINE)
    assert isinstance(mismatch, Fail) and mismatch.code is RtnCode.PAYMENT_AMOUNT_MISMATCH


def test_the_join_waits_for_a_missing_payment_until_the_deadline() -> None:
    assert join(1000, None, NOW, DEADLINE) == Wait()
    late = join(1000, None, DEADLINE, DEADLINE)
    assert isinstance(late, Fail) and late.code is RtnCode.PAYMENT_NOT_RECEIVED


def test_a_rejected_payment_keeps_the_order_waiting_and_is_named_when_it_fails() -> None:
    rejected = KnownPayment(False, None, None, None, "bad_checksum")
    assert join(1000, rejected, NOW, DEADLINE) == Wait()
    late = join(1000, rejected, DEADLINE, DEADLINE)
    assert isinstance(late, Fail) and late.code is RtnCode.PAYMENT_NOT_ACCEPTED and "bad_checksum" in late.detail


def test_codes_have_the_ectickets_lengths_and_alphabets() -> None:
    source = SystemRandomSource()
    ticket_no, write_off_no = new_ticket_no(source), new_write_off_no(source)
    assert len(ticket_no) == 16 and set(ticket_no) <= set(TICKET_ALPHABET)
    assert len(write_off_no) == 18 and set(write_off_no) <= set(WRITE_OFF_ALPHABET)


def test_codes_come_only_from_the_injected_random_source() -> None:
    assert new_write_off_no(random.Random(7)) == new_write_off_no(random.Random(7))
    assert new_write_off_no(random.Random(7)) != new_write_off_no(random.Random(8))


class Bytes:
    """A random source that hands out the given bytes, in order."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def randbytes(self, n: int) -> bytes:
        given, self.data = self.data[:n], self.data[n:]
        return given


def test_a_byte_that_would_favour_the_first_letters_is_skipped() -> None:
    # 62 letters: bytes 248-255 would give the first 8 letters a 5th chance in 256 each; they are not used.
    skipped = bytes(range(248, 256))
    code = new_write_off_no(Bytes(skipped + bytes(range(18)) + bytes(64)))
    assert code == WRITE_OFF_ALPHABET[:18]
    # 32 letters divide 256: every byte is used, its low five bits the letter.
    assert new_ticket_no(Bytes(bytes(range(224, 240)) + bytes(64))) == TICKET_ALPHABET[:16]


def test_every_letter_of_a_code_is_about_equally_likely() -> None:
    rng = random.Random(17)
    counts = Counter("".join(new_write_off_no(rng) for _ in range(20_000)))
    expected = 20_000 * 18 / len(WRITE_OFF_ALPHABET)  # 5,806 each
    assert set(counts) == set(WRITE_OFF_ALPHABET)
    # Skipping nothing would give the first 8 letters 5/4 of the others' share (5/256 against 4/256): 7,031 each.
    assert all(abs(n - expected) < 0.06 * expected for n in counts.values()), counts.most_common(3)


def test_escrow_ends_escrow_days_after_the_taipei_payment_date() -> None:
    late_evening_taipei = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)  # 23:30 in Taipei
    just_after_midnight_taipei = datetime(2026, 11, 26, 16, 30, tzinfo=UTC)  # 00:30 next day in Taipei
    assert escrow_expiry_date(late_evening_taipei, 90) == date(2026, 11, 26) + timedelta(days=90)
    assert escrow_expiry_date(just_after_midnight_taipei, 90) == date(2026, 11, 27) + timedelta(days=90)


def test_issued_tickets_carry_fee_rules_usage_periods_and_escrow_expiry() -> None:
    order = accepted(issue(MerchantTradeNo="M1", TicketInfo=[line("PU000500", 2), line("GF000030")]))
    rng = random.Random(1)
    issued = build_tickets_issued(
        order,
        platform_id=None,
        request_id="r1",
        payment=PaymentRef(trade_no="T", amount=1000, payment_date=NOW),
        escrow_days=90,
        merchant_fee_rule=RefundFeeRule(kind=FeeKind.FIXED, amount=30),
        issued_at=NOW,
        codes=lambda: _protected(new_ticket_no(rng), new_write_off_no(rng)),
    )
    pickups = [t for t in issued.tickets if t.ticket_type is TicketType.PICKUP]
    gift = next(t for t in issued.tickets if t.ticket_type is TicketType.GIFT)
    assert len(pickups) == 2 and all(t.expire_date is None and t.refund_fee_rule.amount == 30 for t in pickups)
    assert (gift.start_date, gift.expire_date) == (TODAY, TODAY + timedelta(days=29))
    assert gift.refund_fee_rule == RefundFeeRule()
    assert issued.escrow_expiry_date == TODAY + timedelta(days=90) and issued.total_face_value == 1000
    assert len({t.ticket_no for t in issued.tickets}) == 3


def test_a_products_own_refund_fee_rule_beats_the_merchants() -> None:
    product = CATALOGUE["PU000500"].model_copy(update={"refund_fee_rule": RefundFeeRule(kind=FeeKind.NONE)})
    catalogue: dict[str, Product] = {"PU000500": product}
    order = validate(issue(MerchantTradeNo="M1", TicketInfo=[line("PU000500")]), catalogue.get, TODAY)
    assert isinstance(order, IssueOrder)
    issued = build_tickets_issued(
        order,
        platform_id=None,
        request_id="r",
        payment=PaymentRef(trade_no="T", amount=500, payment_date=NOW),
        escrow_days=30,
        merchant_fee_rule=RefundFeeRule(kind=FeeKind.FIXED, amount=30),
        issued_at=NOW,
        codes=lambda: _protected("A" * 16, "b" * 18),
    )
    assert issued.tickets[0].refund_fee_rule.kind is FeeKind.NONE


def _protected(ticket_no: str, write_off_no: str) -> tuple[str, ProtectedCode]:
    return ticket_no, CODE_KEY.protect(ticket_no, write_off_no)


def test_the_write_off_code_leaves_issuance_only_hashed_and_sealed_and_its_merchant_reads_it_in_the_reply() -> None:
    rng = random.Random(3)
    codes: dict[str, str] = {}

    def draw() -> tuple[str, ProtectedCode]:
        ticket_no, code = new_ticket_no(rng), new_write_off_no(rng)
        codes[ticket_no] = code
        return _protected(ticket_no, code)

    order = accepted(issue(FreeTradeNo="F1", TicketInfo=[line("GF000030", 3)]))
    issued = build_tickets_issued(order, platform_id=None, request_id="r1", payment=None, escrow_days=90,
                                  merchant_fee_rule=RefundFeeRule(), issued_at=NOW, codes=draw)  # fmt: skip
    event_bytes = issued.model_dump_json()
    assert codes and not any(code in event_bytes for code in codes.values())
    assert all(t.write_off_hash == CODE_KEY.digest(codes[t.ticket_no]) for t in issued.tickets)
    row = order_row(ticket_trade_no="F1", order=order)
    [event, reply] = outbound.issued(row, issued, seeded_merchant(), NOW, CODE_KEY)
    assert not any(code in event.value.decode() for code in codes.values())
    data = open_reply(json.loads(reply.value)["payload"]["response"], TEST_MERCHANT)
    assert {t["TicketNo"]: t["WriteOffNo"] for t in data["TicketList"]} == codes


# --- no stranded money: final failures, unclaimed payments, duplicates, escrow days fixed at payment -------------


def order_row(**changes: Any) -> OrderRow:
    fields: dict[str, Any] = {
        "merchant_id": TEST_MERCHANT,
        "ticket_trade_no": "M1",
        "status": IssueStatus.PROCESSING,
        "request_id": "r1",
        "request_message_id": uuid.UUID(int=1),
        "platform_id": None,
        "signer_id": TEST_MERCHANT,
        "order": accepted(issue(MerchantTradeNo="M1", TicketInfo=[line("PU000500")])),
        "deadline": DEADLINE,
        "payment": paid(500),
    }
    return OrderRow(**(fields | changes))


def test_a_failed_order_is_published_as_final_its_order_number_is_used_up() -> None:
    event, _reply = outbound.failed(order_row(), RtnCode.PAYMENT_AMOUNT_MISMATCH, "paid NT$400", None, NOW)
    failed = payload_of(event.envelope)
    assert isinstance(failed, IssueFailed) and failed.final and failed.merchant_trade_no == "M1"


def test_a_refused_request_that_made_no_order_is_not_final() -> None:
    to = Addressee(uuid.UUID(int=2), "r2", "Issue", TEST_MERCHANT, None, None)
    event = outbound.invalid_request(to, {"MerchantTradeNo": "M2"}, Invalid(RtnCode.ITEM_UNKNOWN, "no X"), NOW)
    failed = payload_of(event.envelope)
    assert isinstance(failed, IssueFailed) and not failed.final


def test_a_payment_no_request_claimed_fails_its_order_for_good_without_a_request_or_a_reply() -> None:
    row = order_row(status=None, request_id="", order=None, deadline=None, claim_deadline=DEADLINE)
    fail = unclaimed(row.payment, row.claim_deadline)
    assert fail.code is RtnCode.PAYMENT_UNCLAIMED and "T1" in fail.detail and DEADLINE.isoformat() in fail.detail
    event = outbound.unclaimed(row, fail.code, fail.detail, NOW)
    failed = payload_of(event.envelope)
    assert isinstance(failed, IssueFailed) and failed.final and failed.request_id == ""
    assert failed.merchant_trade_no == "M1" and failed.rtn_code == 2011 and event.topic == failed.topic
    again = outbound.unclaimed(row, fail.code, fail.detail, NOW + timedelta(seconds=1))
    assert again.envelope.event_id == event.envelope.event_id  # given up once: one id, whenever it is computed


def test_a_later_request_for_a_failed_order_is_told_why_and_where_the_payment_went() -> None:
    failed = UsedOrder("M1", IssueStatus.FAILED, 2011, "no Issue request claimed payment T1", paid=True)
    assert failed.refusal() == (
        "order M1 failed for good (2011: no Issue request claimed payment T1); "
        "its payment is refunded in full to the consumer"
    )
    unpaid = UsedOrder("M1", IssueStatus.FAILED, 2008, "no confirmed payment", paid=False)
    assert unpaid.refusal() == "order M1 failed for good (2008: no confirmed payment)"
    assert UsedOrder("M1", IssueStatus.SUCCESS, 1, "issued", paid=True).refusal() == "order M1 was already submitted"


def test_a_second_genuine_payment_of_an_order_is_not_issuances_business() -> None:
    def confirmed(trade_no: str, duplicate_of: str | None) -> PaymentConfirmed:
        return PaymentConfirmed(merchant_id=TEST_MERCHANT, merchant_trade_no="M1", trade_no=trade_no, amount=500,
                                payment_type="Credit_CreditCard", payment_date=NOW, simulated=True,
                                duplicate_of=duplicate_of)  # fmt: skip

    events = [
        wrap(e, event_id=uuid.uuid4(), occurred_at=NOW, producer="t", correlation_id="c", causation_id=None).envelope
        for e in (confirmed("T2", duplicate_of="T1"), confirmed("T1", None))
    ]
    assert {key: p.trade_no for key, p in payment_outcomes(events).confirmed.items()} == {(TEST_MERCHANT, "M1"): "T1"}
    assert payment_outcomes(events[:1]).confirmed == {}


def test_the_escrow_days_the_payment_was_confirmed_with_fix_the_escrow_end() -> None:
    assert fixed_escrow_days(30, current=90) == 30  # the setting changed after payment: the payment's days stand
    assert fixed_escrow_days(None, current=90) == 90  # an older payment event without them: today's setting
