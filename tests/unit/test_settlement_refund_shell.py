"""The settlement shell's pure parts with failed orders and duplicate payments: the book codec keeps them, and a
consumer batch that refunds them passes its per-order checks (quarantining nothing)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time

import pytest

from services.escrow_settlement.domain.batch import Slice, settle
from services.escrow_settlement.domain.facts import Fact
from services.escrow_settlement.domain.postings import post_all
from services.escrow_settlement.domain.state import LedgerState, OrderStatus
from services.escrow_settlement.inbound import fact_from
from services.escrow_settlement.store.codec import order_book_json, order_book_of
from shared.contracts.events import wrap
from shared.contracts.issuance import IssueFailed
from shared.contracts.payments import PaymentConfirmed

pytestmark = pytest.mark.unit

AT = datetime(2024, 6, 10, 3, 0, tzinfo=UTC)


def facts(*events: PaymentConfirmed | IssueFailed) -> list[Fact]:
    wrapped = [wrap(e, event_id=uuid.uuid4(), occurred_at=AT, producer="t", correlation_id="c", causation_id=None)
               for e in events]  # fmt: skip
    return [f for w in wrapped if (f := fact_from(w.envelope, time(0))) is not None]


def payment(trade_no: str, duplicate_of: str | None = None) -> PaymentConfirmed:
    return PaymentConfirmed(merchant_id="M1", merchant_trade_no="T1", trade_no=trade_no, amount=500,
                            payment_type="Credit_CreditCard", payment_date=AT, simulated=True,
                            duplicate_of=duplicate_of)  # fmt: skip


def failure() -> IssueFailed:
    return IssueFailed(merchant_id="M1", platform_id=None, merchant_trade_no="T1", free_trade_no=None, request_id="",
                       rtn_code=2011, reason="no Issue request claimed payment E1", failed_at=AT, final=True)  # fmt: skip


def test_a_failed_order_with_a_duplicate_survives_the_json_round_trip() -> None:
    state, _ = post_all(LedgerState(), facts(payment("E1"), payment("E2", duplicate_of="E1"), failure()))
    [book] = state.orders.values()
    assert book.status is OrderStatus.FAILED and book.extra_payments[0].duplicate_of == "E1"
    assert order_book_of(order_book_json(book)) == book


def test_a_book_written_before_failures_existed_is_still_read() -> None:
    state, _ = post_all(LedgerState(), facts(payment("E1")))
    data = json.loads(order_book_json(next(iter(state.orders.values()))))
    del data["failed"]
    book = order_book_of(json.dumps({**data, "v": 1}))
    assert book.failed is None and book.status is OrderStatus.AWAITING_ISSUANCE


def test_a_batch_that_refunds_a_failed_order_and_a_duplicate_passes_its_checks() -> None:
    outcome = settle(Slice(books={}, transfers={}, balances={}), facts(payment("E1"), payment("E2", "E1"), failure()))
    assert not outcome.violations and not outcome.diverted
    assert [e.kind.value for e in outcome.entries] == [
        "payment",
        "duplicate_payment",
        "duplicate_refund",
        "failed_order_refund",
    ]
