"""The pure issuance core: validating Issue Data, the payment join, codes, and building TicketsIssued."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.issuance.domain.codes import (
    TICKET_ALPHABET,
    WRITE_OFF_ALPHABET,
    SystemRandomSource,
    new_ticket_no,
    new_write_off_no,
)
from services.issuance.domain.join import Fail, Issue, KnownPayment, Wait, join
from services.issuance.domain.request import Invalid, IssueOrder, validate
from services.issuance.domain.tickets import build_tickets_issued, escrow_expiry_date
from shared.admin.seed import TEST_MERCHANT, dev_products
from shared.contracts.catalog import Product
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType
from shared.contracts.issuance import PaymentRef
from shared.contracts.rtncodes import RtnCode

pytestmark = pytest.mark.unit

TODAY = date(2026, 11, 26)
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
        codes=lambda: (new_ticket_no(rng), new_write_off_no(rng)),
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
        codes=lambda: ("A" * 16, "b" * 18),
    )
    assert issued.tickets[0].refund_fee_rule.kind is FeeKind.NONE
