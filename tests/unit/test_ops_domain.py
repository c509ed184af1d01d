"""The ops fold: a known history folds into the counters operations expect, a redelivery counts nothing twice."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from services.ops.domain.facts import Fact, Poison
from services.ops.domain.fold import fold
from services.ops.domain.views import headline, merge, rejections, scope_view
from services.ops.inbound import parse
from shared.contracts.events import Producer
from shared.contracts.payments import PaymentRejected, PaymentRejectReason
from shared.contracts.rejections import MessageRejected
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


def test_a_hostile_flood_leaves_the_partition_state_small_enough_for_one_changelog_record() -> None:
    """20,000 rejected payments of made-up merchants and 20,000 dead letters (the fuzz campaign crashed the app on
    a state of 1 MB): counted in full, but neither a scope per made-up merchant nor every open letter is kept."""
    at = datetime(2026, 11, 28, tzinfo=UTC)
    events = [
        PaymentRejected(
            merchant_id=f"X{i:08d}",
            merchant_trade_no="T1",
            reason=PaymentRejectReason.UNKNOWN_MERCHANT,
            message="unknown merchant",
            received_at=at,
        )
        for i in range(20_000)
    ] + [
        MessageRejected(
            consumer="issuance",
            source_topic="ecticket.ingest.requests.v1",
            source_partition=0,
            source_offset=i,
            raw_size=3,
            raw_sha256="0" * 64,
            raw_preview="{{{",
            error="not JSON",
            rejected_at=at,
        )
        for i in range(20_000)
    ]
    outgoing = [Producer("fuzz").event(e, uuid.uuid4(), at) for e in events]
    state, _ = _folded([parse(o.topic, 0, offset, o.envelope.to_bytes()) for offset, o in enumerate(outgoing)])
    assert len(json.dumps(state)) < 100_000
    counters = merge([state])["counters"]["*"]
    assert (counters["payments_rejected"], counters["dead_letters"]) == (20_000, 20_000)


def test_only_the_newest_orders_keep_a_timeline_and_the_oldest_are_deleted_from_the_table() -> None:
    """Each merchant's scenario touches three orders (A1, B1 and X, a refused write-off's): three merchants, nine
    orders, six kept, folded in two batches."""
    facts = [
        parse(e.topic, 0, offset, e.value)
        for offset, e in enumerate(e for merchant in ("M1", "M2", "M3") for e in scenario(merchant))
    ]
    first = fold(None, {}, facts[:20], orders_kept=6)
    rest = fold(first.state, first.orders, facts[20:], orders_kept=6)
    kept = {**first.orders, **rest.orders}
    for key in first.evicted + rest.evicted:
        kept.pop(key, None)
    assert sorted(first.evicted + rest.evicted) == ["M1/A1", "M1/B1", "M1/X"]
    assert sorted(kept) == sorted(rest.state["recent_orders"]) == ["M2/A1", "M2/B1", "M2/X", "M3/A1", "M3/B1", "M3/X"]
    # The counters are the whole history's, the forgotten orders' included: only their timelines go.
    assert headline(merge([rest.state])["counters"]["M1"])["orders_issued"] == EXPECTED["orders_issued"]


def test_an_order_seen_again_after_it_was_forgotten_starts_a_new_timeline_and_counts_as_newest() -> None:
    m1, m2 = _facts("M1"), [parse(e.topic, 0, 100 + i, e.value) for i, e in enumerate(scenario("M2"))]
    first = fold(None, {}, m1 + m2, orders_kept=3)
    assert sorted(first.evicted) == ["M1/A1", "M1/B1", "M1/X"]
    late = parse(m1[0].topic, 0, 500, scenario("M1")[0].value)  # M1/A1's payment, read again under a new offset
    again = fold(first.state, {}, [late], orders_kept=3)
    assert [e["type"] for e in again.orders["M1/A1"]["events"]] == ["PaymentConfirmed"]
    assert again.state["recent_orders"] == ["M2/B1", "M2/X", "M1/A1"]
    assert again.evicted == ["M2/A1"]
