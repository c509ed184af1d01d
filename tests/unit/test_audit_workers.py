"""The audit split across workers (`verify --workers N`), each re-deriving its share of the merchants: the merged
report is the one a single process gives, on a clean log and on every kind of tampering."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deploy.bench.audit_history import generate
from services.audit import report
from services.audit.domain import chain_check
from services.audit.domain.records import Record
from services.audit.domain.shard import Shard, share_of
from services.audit.domain.verify import Options, Verifier
from shared.topics import ISSUANCE_EVENTS, REDEMPTION_EVENTS, SETTLEMENT_EVENTS
from tests.unit.test_audit_verify import KEYS, _rechained, history, index_of, link_of, records_of

pytestmark = pytest.mark.unit


def whole(records: tuple[Record, ...] | list[Record]) -> dict[str, Any]:
    verifier = Verifier()
    for record in records:
        verifier.feed(record)
    return report.as_json(verifier, verifier.finish(KEYS), None)


def in_workers(records: tuple[Record, ...] | list[Record], count: int) -> dict[str, Any]:
    """What services/audit/workers.py does, in one process: every worker reads everything, learns the log's end
    from all of them, finishes, and the reports are merged."""
    workers = [Verifier(Options(shard=Shard(n, count))) for n in range(count)]
    for worker in workers:
        for record in records:
            worker.feed(record)
    log_end = max((w.log_end for w in workers if w.log_end is not None), default=None)
    parts = []
    for worker in workers:
        worker.log_end = log_end
        parts.append(report.as_json(worker, worker.finish(KEYS), None))
    return report.merge(parts)


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """The report with its findings as a sorted list (the workers list theirs one worker after the other), less the
    workers' own figures (memory, events each replayed)."""
    findings = sorted(json.dumps(f, sort_keys=True) for f in result["findings"])
    return {**{k: v for k, v in result.items() if k != "workers"}, "findings": findings}


def test_a_history_of_twelve_merchants_verified_by_two_or_three_workers_gives_the_single_report() -> None:
    records = records_of(generate(240, merchants=12))
    single = whole(records)
    assert single["clean"] and single["ledger"]["entries_derived"] > 500
    for count in (2, 3):
        assert comparable(in_workers(records, count)) == comparable(single)


def edited(records: list[Record]) -> list[Record]:
    i = index_of(records, REDEMPTION_EVENTS, event_type="TicketRefunded")
    records[i] = replace(records[i], value=records[i].value.replace(b'"fee":', b'"fee":1', 1))
    return records


def removed(records: list[Record]) -> list[Record]:
    del records[index_of(records, REDEMPTION_EVENTS, nth=5)]
    return records


def reordered(records: list[Record]) -> list[Record]:
    i = index_of(records, REDEMPTION_EVENTS, nth=2)
    j = next(k for k in range(i + 1, len(records)) if records[k].partition == records[i].partition)
    records[i], records[j] = (
        replace(records[j], offset=records[i].offset),
        replace(records[i], offset=records[j].offset),
    )
    return records


def swapped(records: list[Record]) -> list[Record]:
    i, j = index_of(records, REDEMPTION_EVENTS, nth=1), index_of(records, SETTLEMENT_EVENTS, nth=1)
    a, b = records[i], records[j]
    records[i] = replace(b, topic=a.topic, partition=a.partition, offset=a.offset)
    records[j] = replace(a, topic=b.topic, partition=b.partition, offset=b.offset)
    return records


def written_off_twice(records: list[Record]) -> list[Record]:
    i = index_of(records, REDEMPTION_EVENTS, event_type="TicketWrittenOff")
    twice = replace(records[i], offset=30_000)
    return _rechained([*records[: i + 1], twice, *records[i + 1 :]], link_of(records[i]).service)


def republished(records: list[Record]) -> list[Record]:
    i = index_of(records, SETTLEMENT_EVENTS, nth=3)
    return [*records, replace(records[i], offset=40_000)]


def misfiled(records: list[Record]) -> list[Record]:
    """A write-off of 3000001's filed under 3000002's key (another worker's, of two), the chain linked again."""
    i = next(
        n for n, r in enumerate(records) if r.topic == REDEMPTION_EVENTS and (r.key or b"").startswith(b"3000001/")
    )
    records[i] = replace(records[i], key=b"3000002/" + (records[i].key or b"").split(b"/", 1)[1])
    return _rechained(records, link_of(records[i]).service)


@pytest.mark.parametrize("tamper", [edited, removed, reordered, swapped, written_off_twice, republished, misfiled])
def test_each_kind_of_tampering_is_reported_by_the_workers_as_by_one_process(tamper: Any) -> None:
    records = tamper(list(history()))
    single = whole(records)
    assert single["findings"] or tamper is republished
    assert comparable(in_workers(records, 2)) == comparable(single)


def test_an_event_filed_under_another_merchants_key_is_found_and_not_replayed() -> None:
    result = whole(misfiled(list(history())))
    [found] = [f for f in result["findings"] if f["kind"] == "misfiled"]
    assert found["check"] == "events" and "b'3000002/" in found["detail"] and "'3000001/" in found["detail"]


def test_an_overpaid_payout_is_found_by_the_worker_of_its_merchant() -> None:
    records = records_of(generate(60, overpay=100))
    assert comparable(in_workers(records, 2)) == comparable(whole(records))
    assert in_workers(records, 2)["finding_counts"] == {"ledger.payout_exceeds_due": 3}


def test_a_payment_left_unresolved_is_judged_against_the_end_of_the_whole_log_not_its_workers_share() -> None:
    """3000002's records end at 1970 (the generator's timestamps); everybody else's in 2027. Its payment without an
    issuance is unresolved at the log's end, though its worker alone never read that far."""
    assert [share_of(m.encode(), 2) for m in ("3000001", "3000002", "3000003")] == [0, 1, 0]
    records = list(history())
    i = next(n for n, r in enumerate(records) if r.topic == ISSUANCE_EVENTS and (r.key or b"").startswith(b"3000002/"))
    del records[i]
    late = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp() * 1000)
    records = [r if (r.key or b"").startswith(b"3000002") else replace(r, timestamp_ms=late) for r in records]
    single = whole(records)
    assert single["finding_counts"].get("orders.payment_unresolved") == 1
    assert comparable(in_workers(records, 2)) == comparable(single)


@given(st.text(alphabet="0123456789ABCDEFGHabcdefgh-_", min_size=1, max_size=12), st.integers(min_value=1, max_value=8))
def test_every_merchant_belongs_to_exactly_one_worker(merchant: str, count: int) -> None:
    owners = [n for n in range(count) if Shard(n, count).owns(merchant)]
    assert len(owners) == 1
    assert Shard(owners[0], count).owns_key(f"{merchant}/A0001".encode())


def test_a_worker_outside_the_count_is_refused() -> None:
    with pytest.raises(ValueError, match="worker 2 of 2"):
        Shard(2, 2)


def test_a_worker_judges_a_chain_jump_against_the_whole_chain_not_its_own_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A jump too far to be real (here, over 20 places) is judged as one process does: the other worker's records
    count for how far a chain has come. Judged on its own records only, a worker would take an early event of its
    merchant for a forged jump, keep no place for it, and replay it twice when the relay sent it again (this
    test fails so without `ChainCheck.note`)."""
    monkeypatch.setattr(chain_check, "MAX_JUMP", 20)
    records = list(history())
    again = [
        n for n, r in enumerate(records) if r.topic == REDEMPTION_EVENTS and (r.key or b"").startswith(b"3000002/")
    ]
    records += [replace(records[n], offset=50_000 + n) for n in again]  # a relay restart sent them again
    assert comparable(in_workers(records, 2)) == comparable(whole(records))
