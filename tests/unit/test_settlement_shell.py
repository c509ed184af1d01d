"""The settlement shell's pure parts: the book codec, a batch with quarantine, the timer's due day, statements."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, date, datetime, time

import pytest

from services.escrow_settlement.domain.accounts import escrow_held
from services.escrow_settlement.domain.batch import Slice, settle
from services.escrow_settlement.domain.facts import Fact, PayoutRejected, PayoutSent
from services.escrow_settlement.domain.payouts import day_to_settle
from services.escrow_settlement.domain.postings import post_all
from services.escrow_settlement.domain.state import Holder, LedgerState, TransferBook
from services.escrow_settlement.domain.statement import as_csv, as_json, build
from services.escrow_settlement.inbound import fact_from
from services.escrow_settlement.store.codec import order_book_json, order_book_of, transfer_book_json, transfer_book_of
from tests.support.settlement import History

pytestmark = pytest.mark.unit

AT = datetime(2024, 6, 10, 3, 0, tzinfo=UTC)


def facts_of(h: History) -> list[Fact]:
    return [f for e in h.events if (f := fact_from(e.envelope, time(0))) is not None]


def test_an_order_book_survives_the_json_round_trip_with_parked_and_held_facts() -> None:
    h = History("M1", AT)
    a, b, _ = h.paid_order(500, 700, gifts=1)
    h.written_off(a)
    h.write_off_cancelled(b)  # parked: nothing to cancel yet
    state, _ = post_all(LedgerState(), facts_of(h))
    [book] = state.orders.values()
    assert book.parked and book.tickets[a].holder is Holder.MERCHANT_BY_WRITE_OFF
    assert order_book_of(order_book_json(book)) == book


def test_a_transfer_book_survives_the_json_round_trip() -> None:
    sent = PayoutSent(cause_id="i", on=date(2024, 6, 10), instruction_id=uuid.uuid4(), merchant_id="M1",
                      attempt=2, payable_part=600, fee_part=-100)  # fmt: skip
    rejected = PayoutRejected(cause_id="r", on=date(2024, 6, 11), instruction_id=sent.instruction_id, merchant_id="M1",
                              amount=500, reason="closed")  # fmt: skip
    book = TransferBook(sent=sent, settled=rejected, seen=frozenset({"i", "r"}))
    assert transfer_book_of(transfer_book_json(book)) == book


def test_a_book_of_an_unknown_format_version_is_refused_not_guessed() -> None:
    h = History("M1", AT)
    h.paid_order(500)
    state, _ = post_all(LedgerState(), facts_of(h))
    data = json.loads(order_book_json(next(iter(state.orders.values()))))
    with pytest.raises(ValueError, match="format"):
        order_book_of(json.dumps({**data, "v": 3}))


def test_a_batch_posts_every_order_and_checks_each_one() -> None:
    h = History("M1", AT)
    [a] = h.paid_order(500)
    [b] = h.paid_order(300)
    h.written_off(a)
    h.refunded(b, fee=30)
    outcome = settle(Slice(books={}, transfers={}, balances={}), facts_of(h))
    assert not outcome.violations and not outcome.diverted
    assert [e.kind.value for e in outcome.entries] == ["payment", "payment", "write_off", "refund"]
    assert len(outcome.books) == 2


def test_an_order_whose_stored_balance_disagrees_is_quarantined_and_the_others_still_post() -> None:
    h = History("M1", AT)
    [a] = h.paid_order(500)
    [b] = h.paid_order(300)
    setup, _ = post_all(LedgerState(), facts_of(h))
    tampered = escrow_held(setup.orders[next(iter(setup.orders))].order)  # order of `a`
    balances = {**setup.balances, tampered: setup.balances[tampered] - 100}  # escrow shows 100 too much
    later = History("M1", AT, tickets=h.tickets, orders=h.orders)
    later.written_off(a)
    later.written_off(b)
    loaded = Slice(books=dict(setup.orders), transfers={}, balances=balances)
    outcome = settle(loaded, facts_of(later))
    [(subject, violations)] = outcome.violations.items()
    assert subject == tampered.owner and {v.rule for v in violations} == {"escrow_matches_vouchers"}
    assert [f.cause_id for _, f in outcome.diverted] == [str(later.events[0].envelope.event_id)]
    assert [e.ticket_no for e in outcome.entries] == [b]  # nothing of the quarantined order reaches the journal


def test_the_journal_summary_catches_a_voucher_released_twice() -> None:
    h = History("M1", AT)
    [a] = h.paid_order(500)
    h.written_off(a)
    state, _ = post_all(LedgerState(), facts_of(h))
    key = next(iter(state.orders))
    journal = Counter({(key, a): 2})  # the stored journal says: released twice
    again = History("M1", AT, tickets=h.tickets, orders=h.orders)
    again.write_off_cancelled(a)
    loaded = Slice(books=dict(state.orders), transfers={}, balances=dict(state.balances), journal=journal)
    outcome = settle(loaded, facts_of(again))
    assert {v.rule for v in outcome.violations[key]} == {"vouchers_match_journal"}


def test_the_timer_settles_the_last_ended_business_day_once() -> None:
    now = datetime(2024, 6, 10, 16, 30, tzinfo=UTC)  # 00:30 on June 11 in Taipei
    assert day_to_settle(now, time(0), None) == date(2024, 6, 10)
    assert day_to_settle(now, time(0), date(2024, 6, 10)) is None
    assert day_to_settle(now, time(0), date(2024, 6, 8)) == date(2024, 6, 10)  # a run pays all due up to its day
    evening = datetime(2024, 6, 10, 14, 30, tzinfo=UTC)  # 22:30 on June 10 in Taipei
    assert day_to_settle(evening, time(0), None) == date(2024, 6, 9)
    assert day_to_settle(evening, time(22), None) == date(2024, 6, 10)  # its books closed at 22:00


def test_a_statement_runs_from_the_opening_to_the_closing_balance() -> None:
    rows: list[dict[str, object]] = [
        {"entry_id": "e1", "cause_id": "c1", "entry_kind": "write_off", "account": "merchant_payable",
         "ticket_trade_no": "T1", "ticket_no": "A", "amount": -500},
        {"entry_id": "e2", "cause_id": "c2", "entry_kind": "payout_sent", "account": "merchant_payable",
         "ticket_trade_no": None, "ticket_no": None, "amount": 700},
        {"entry_id": "e2", "cause_id": "c2", "entry_kind": "payout_sent", "account": "merchant_payout_in_transit",
         "ticket_trade_no": None, "ticket_no": None, "amount": -700},
    ]  # fmt: skip
    statement = build("M1", date(2024, 6, 10), {"merchant_payable": -200}, rows)
    assert statement.opening["total"] == 200 and statement.closing["total"] == 700
    assert [m.balance for m in statement.movements] == [700, 0, 700]
    assert statement.closing["merchant_payout_in_transit"] == 700 and statement.closing["merchant_payable"] == 0
    lines = as_csv(statement).splitlines()
    assert (
        lines[0].startswith("merchant_id,business_date,record") and lines[-1] == "M1,2024-06-10,closing,,,,total,,,,700"
    )
    assert json.loads(as_json(statement))["movements"][0]["cause_id"] == "c1"
