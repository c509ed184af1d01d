"""The audit's verification on a generated history (the services' own decisions, linked as the relay links them):
clean as generated, and each kind of tampering found, said where it is."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from deploy.bench.audit_history import History, as_log, generate
from services.audit.domain.chain_check import ChainCheck
from services.audit.domain.records import Findings, Record
from services.audit.domain.verify import Options, Verifier
from shared import chain
from shared.infra.chain import CHAINED_TOPICS
from shared.topics import AUDIT_CHECKPOINTS, REDEMPTION_EVENTS, SETTLEMENT_EVENTS

pytestmark = pytest.mark.unit

KEY = Ed25519PrivateKey.generate()
KEYS = {"k1": KEY.public_key()}
AT = datetime(2026, 11, 20, tzinfo=UTC)


@cache
def history() -> tuple[Record, ...]:
    """300 orders as the log holds them: per topic, partition by partition, each service's final link signed."""
    return records_of(generate(300))


def records_of(generated: History) -> tuple[Record, ...]:
    return as_log(generated, KEY, AT)


def verify(records: list[Record] | tuple[Record, ...]) -> Verifier:
    verifier = Verifier()
    for record in records:
        verifier.feed(record)
    verifier.finish(KEYS)
    return verifier


def kinds(v: Verifier) -> dict[str, int]:
    return dict(v.findings.counts)


def index_of(records: list[Record], topic: str, nth: int = 0, event_type: str | None = None) -> int:
    found = [
        i for i, r in enumerate(records) if r.topic == topic and (event_type is None or event_type.encode() in r.value)
    ]
    return found[nth]


def link_of(record: Record) -> chain.Link:
    found = chain.link_from_headers(record.headers)
    assert found is not None
    return found


def test_the_generated_history_covers_every_topic_and_replays_clean() -> None:
    records = history()
    assert {r.topic for r in records} >= CHAINED_TOPICS - {
        "ecticket.bank.statements.v1",
        "ecticket.platform.rejections.v1",
        "ecticket.audit.inputs.v1",  # merchants' signed inputs: the history is generated from decisions only
    }
    v = verify(records)
    assert kinds(v) == {}
    assert v.tickets.rederived > 600 and v.ledger.entries == v.ledger.recorded > 1000
    assert {"TicketWrittenOff", "WriteOffCancelled", "TicketRefunded", "RefundCancelled", "TicketExpired",
            "IssueFailed", "PayoutInstructed", "RefundInstructed", "TransferConfirmed"} <= set(v.events)  # fmt: skip


def test_a_republished_event_is_the_same_event_not_a_finding() -> None:
    records = list(history())
    i = index_of(records, REDEMPTION_EVENTS)
    again = replace(records[i], offset=10_000)
    v = verify([*records[: i + 1], again, *records[i + 1 :]])
    assert kinds(v) == {} and v.chain.republished == 1


def chain_kinds(v: Verifier) -> dict[str, int]:
    return {k: n for k, n in v.findings.counts.items() if k.startswith("chain.")}


def test_an_edited_payload_is_found_at_its_record_and_its_refund_is_missing_from_the_ledger() -> None:
    records = list(history())
    i = index_of(records, REDEMPTION_EVENTS, event_type="TicketRefunded")
    records[i] = replace(records[i], value=records[i].value.replace(b'"fee":', b'"fee":1', 1))
    v = verify(records)
    assert chain_kinds(v) == {"chain.altered": 1}
    assert v.findings.items[0].where == records[i].where
    assert v.findings.counts["ledger.entry_not_derived"] >= 1  # the refund's recorded entries: no trusted cause


def test_a_removed_event_is_found_as_the_gap_it_leaves() -> None:
    records = list(history())
    i = index_of(records, REDEMPTION_EVENTS, nth=5)
    gone = link_of(records.pop(i))
    v = verify(records)
    assert chain_kinds(v) == {"chain.removed": 1}
    removed = next(f for f in v.findings.items if f.check == "chain")
    assert f"#{gone.seq}..#{gone.seq}" in removed.detail


def test_a_chain_read_from_a_point_in_time_is_checked_from_its_first_event_read_and_a_later_gap_is_found() -> None:
    events = [r for r in history() if r.topic != AUDIT_CHECKPOINTS]
    service = link_of(events[index_of(events, REDEMPTION_EVENTS)]).service
    started_later = [r for r in events if link_of(r).service != service or link_of(r).seq > 10]  # #1-#10 not read
    check = ChainCheck(Findings())
    for record in started_later:
        check.feed(record)
    check.finish([], KEYS, start=0)
    assert check.findings.counts == {}
    gone = link_of(started_later.pop(next(n for n, r in enumerate(started_later) if link_of(r).service == service
                                          and link_of(r).seq == 20)))  # fmt: skip
    check = ChainCheck(Findings())
    for record in started_later:
        check.feed(record)
    check.finish([], KEYS, start=0)
    assert check.findings.counts == {"chain.removed": 1}
    assert f"#{gone.seq}..#{gone.seq} are missing" in check.findings.items[0].detail


def test_an_inserted_forged_event_is_found_whether_it_claims_a_place_or_none() -> None:
    records = list(history())
    i = index_of(records, REDEMPTION_EVENTS, nth=3)
    real = link_of(records[i])
    forged_value = records[i].value.replace(b'"merchant_id":"300000', b'"merchant_id":"300009')
    assert forged_value != records[i].value
    claimed = chain.extend(
        real.service, real.seq - 1, real.prev, [(REDEMPTION_EVENTS, (records[i].key or b"").decode(), forged_value)]
    )
    forged = replace(
        records[i], value=forged_value, offset=20_000, headers=(("event_type", b"T"), *claimed[0].headers())
    )
    v = verify([*records[: i + 1], forged, *records[i + 1 :]])
    assert chain_kinds(v) == {"chain.conflict": 1} and v.findings.items[0].where == forged.where
    unlinked = replace(forged, headers=(("event_type", b"T"),))
    assert chain_kinds(verify([*records[: i + 1], unlinked, *records[i + 1 :]])) == {"chain.unchained": 1}


def test_two_events_reordered_in_their_partition_are_found() -> None:
    records = list(history())
    i = index_of(records, REDEMPTION_EVENTS, nth=2)
    j = next(k for k in range(i + 1, len(records)) if records[k].partition == records[i].partition)
    records[i], records[j] = (
        replace(records[j], offset=records[i].offset),
        replace(records[i], offset=records[j].offset),
    )
    v = verify(records)
    assert chain_kinds(v) == {"chain.reordered": 1}
    assert v.findings.items[0].where == records[j].where


def test_two_events_of_different_producers_swapped_are_both_found() -> None:
    records = list(history())
    i, j = index_of(records, REDEMPTION_EVENTS, nth=1), index_of(records, SETTLEMENT_EVENTS, nth=1)
    a, b = records[i], records[j]
    records[i] = replace(b, topic=a.topic, partition=a.partition, offset=a.offset)
    records[j] = replace(a, topic=b.topic, partition=b.partition, offset=b.offset)
    v = verify(records)
    assert v.findings.counts.get("chain.altered") == 2
    assert {f.where for f in v.findings.items if f.kind == "altered"} == {records[i].where, records[j].where}


def test_a_truncated_tail_is_found_against_the_signed_checkpoint() -> None:
    records = list(history())
    tail = link_of(records[index_of(records, SETTLEMENT_EVENTS)])
    last = max(link_of(r).seq for r in records if r.topic != AUDIT_CHECKPOINTS and link_of(r).service == tail.service)
    cut = [
        r
        for r in records
        if r.topic == AUDIT_CHECKPOINTS or not (link_of(r).service == tail.service and link_of(r).seq > last - 3)
    ]
    v = verify(cut)
    assert chain_kinds(v) == {"chain.truncated": 1}
    assert f"{tail.service} #{last - 2}..#{last} are missing" in v.findings.items[0].detail


def test_a_checkpoint_signed_by_another_key_or_naming_another_link_is_found() -> None:
    records = list(history())
    record = records[-1]
    real = chain.Checkpoint.from_bytes(record.value)
    other = replace(real, signature=b"").signed(Ed25519PrivateKey.generate())
    assert kinds(verify([*records[:-1], replace(record, value=other.to_bytes())])) == {"chain.bad_checkpoint": 1}
    moved = replace(real, seq=real.seq - 1, signature=b"").signed(KEY)
    assert kinds(verify([*records[:-1], replace(record, value=moved.to_bytes())])) == {"chain.checkpoint_mismatch": 1}


def test_a_double_write_off_rechained_by_a_forger_still_breaks_the_rules() -> None:
    """Whoever rewrites a chain from some point (without the signing key) is caught by the checkpoint; the rules
    catch the decision itself, here a second write-off of the same ticket."""
    records = list(history())
    i = index_of(records, REDEMPTION_EVENTS, event_type="TicketWrittenOff")
    twice = replace(records[i], offset=30_000)
    v = verify(_rechained([*records[: i + 1], twice, *records[i + 1 :]], link_of(records[i]).service))
    assert v.findings.counts.get("tickets.illegal_transition") == 1
    assert "3002" in next(f.detail for f in v.findings.items if f.kind == "illegal_transition")
    assert v.findings.counts.get("chain.checkpoint_mismatch") == 1


def test_a_ledger_entry_with_another_amount_is_found_even_rechained() -> None:
    records = list(history())
    i = index_of(records, SETTLEMENT_EVENTS)
    body = json.loads(records[i].value)
    body["payload"]["postings"][0]["amount"] += 1
    body["payload"]["postings"][1]["amount"] -= 1
    records[i] = replace(records[i], value=json.dumps(body, separators=(",", ":")).encode())
    v = verify(_rechained(records, link_of(records[i]).service))
    assert v.findings.counts.get("ledger.entry_differs") == 1
    assert v.findings.counts.get("chain.checkpoint_mismatch") == 1


def _rechained(records: list[Record], service: str) -> list[Record]:
    """`service`'s chain linked again over the records as they now are (what a forger without the key can do)."""
    mine = [(n, r) for n, r in enumerate(records) if r.topic != AUDIT_CHECKPOINTS and link_of(r).service == service]
    mine.sort(key=lambda nr: (link_of(nr[1]).seq, nr[1].offset))
    links = chain.extend(
        service, 0, chain.genesis(service), [(r.topic, (r.key or b"").decode(), r.value) for _, r in mine]
    )
    out = list(records)
    for (n, r), x in zip(mine, links, strict=True):
        out[n] = replace(r, headers=(("event_type", b"T"), *x.headers()))
    return out


def test_a_payout_larger_than_what_was_due_is_found() -> None:
    v = verify(records_of(generate(60, overpay=100)))
    assert kinds(v) == {"ledger.payout_exceeds_due": 3}
    assert {f.merchant_id for f in v.findings.items} == {"3000001", "3000002", "3000003"}


def test_the_merchant_filter_narrows_domain_findings_not_the_chain_and_the_period_keeps_its_records_findings() -> None:
    records = list(history())
    i = index_of(records, REDEMPTION_EVENTS, event_type="TicketWrittenOff")
    twice = replace(records[i], offset=30_000, timestamp_ms=5_000)
    forged = _rechained([*records[: i + 1], twice, *records[i + 1 :]], link_of(records[i]).service)
    merchant = json.loads(records[i].value)["payload"]["merchant_id"]
    other = next(m for m in ("3000001", "3000002", "3000003") if m != merchant)

    def counts(**options: object) -> dict[str, int]:
        verifier = Verifier(Options(**options))  # type: ignore[arg-type]
        for record in forged:
            verifier.feed(record)
        verifier.finish(KEYS)
        return dict(verifier.findings.counts)

    assert counts(merchant_id=merchant)["tickets.illegal_transition"] == 1
    assert counts(merchant_id=other) == {"chain.checkpoint_mismatch": 1}
    assert counts(period_ms=(0, 5_000)) == {"chain.checkpoint_mismatch": 1}
    assert counts(period_ms=(5_000, None))["tickets.illegal_transition"] == 1
