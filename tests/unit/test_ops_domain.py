"""The ops fold: a known history folds into the counters operations expect, a redelivery counts nothing twice."""

from __future__ import annotations

from typing import Any

from services.ops.domain.facts import Fact, Poison
from services.ops.domain.fold import fold
from services.ops.domain.views import headline, merge, rejections, scope_view
from services.ops.inbound import parse
from shared.contracts.rtncodes import RtnCode
from tests.unit.test_ops_events import EXPECTED, scenario


def _facts(merchant: str = "M1") -> list[Fact | Poison]:
    return [parse(e.topic, 0, offset, e.value) for offset, e in enumerate(scenario(merchant))]


def _folded(facts: list[Fact | Poison]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    result = fold(None, {}, facts)
    return result.state, result.orders


def test_a_known_history_gives_the_expected_counters_for_its_merchant_and_overall() -> None:
    state, _ = _folded(_facts())
    merged = merge([state])
    for scope in ("M1", "*"):
        figures = headline(merged["counters"][scope])
        assert {name: figures[name] for name in EXPECTED} == EXPECTED


def test_refusals_are_counted_by_reason_code() -> None:
    state, _ = _folded(_facts())
    assert rejections(merge([state])["counters"]["M1"]) == {f"rtn:{int(RtnCode.TICKET_NOT_FOUND)}": 1}


def test_a_redelivered_batch_counts_nothing_twice() -> None:
    facts = _facts()
    once = fold(None, {}, facts)
    twice = fold(once.state, once.orders, facts)
    assert twice.applied == 0
    assert twice.state["counters"] == once.state["counters"]


def test_the_order_timeline_lists_every_event_of_the_order_in_order() -> None:
    _, orders = _folded(_facts())
    types = [e["type"] for e in orders["M1/A1"]["events"]]
    assert types == [
        "PaymentConfirmed",
        "IssueAccepted",
        "TicketsIssued",
        "LedgerEntryPosted",
        "TicketWrittenOff",
        "LedgerEntryPosted",
        "TicketRefunded",
        "LedgerEntryPosted",
    ]
    assert orders["M1/B1"]["waiting"] is True and orders["M1/A1"]["waiting"] is False


def test_two_partitions_add_up_and_a_dead_letter_stays_open_until_resolved() -> None:
    first, second = _folded(_facts("M1"))[0], _folded(_facts("M2"))[0]
    overall = scope_view(merge([first, second]))["headline"]
    assert overall["orders_issued"] == 2 and overall["paid_out"] == 240
    assert overall["dead_letters_open"] == 2  # the same letter id in both: still two announcements counted


def test_a_record_no_contract_reads_is_poison_and_counted_as_passed() -> None:
    poison = parse("ecticket.issuance.events.v1", 0, 0, b"{not json")
    assert isinstance(poison, Poison)
    result = fold(None, {}, [poison])
    assert result.state["offsets"] == {"ecticket.issuance.events.v1": 0}
    assert result.state["counters"]["*"]["poison_events"] == 1
