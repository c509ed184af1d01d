"""The event chain's links and signed checkpoints (shared/chain.py)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared import chain

pytestmark = pytest.mark.unit

RECORDS = [("ecticket.redemption.events.v1", f"M1/O{i}", b'{"n":%d}' % i) for i in range(5)]
AT = datetime(2026, 11, 28, 6, 0, tzinfo=UTC)


def test_each_link_commits_to_the_previous_link_its_place_and_its_topic_key_and_bytes() -> None:
    links = chain.extend("redemption", 0, chain.genesis("redemption"), RECORDS)
    assert [x.seq for x in links] == [1, 2, 3, 4, 5]
    assert links[0].prev == chain.genesis("redemption")
    for before, after in itertools.pairwise(links):
        assert after.prev == before.link
    for record, x in zip(RECORDS, links, strict=True):
        assert x.link == chain.link(x.prev, x.seq, chain.event_hash(*record))
    moved = chain.extend(
        "redemption", 0, chain.genesis("redemption"), [("ecticket.payments.events.v1", *RECORDS[0][1:])]
    )
    assert moved[0].link != links[0].link


def test_a_chain_continued_from_its_tail_equals_the_chain_linked_at_once() -> None:
    whole = chain.extend("issuance", 0, chain.genesis("issuance"), RECORDS)
    first = chain.extend("issuance", 0, chain.genesis("issuance"), RECORDS[:2])
    rest = chain.extend("issuance", 2, first[-1].link, RECORDS[2:])
    assert first + rest == whole


def test_two_services_never_share_a_link_for_the_same_event() -> None:
    assert chain.extend("a", 0, chain.genesis("a"), RECORDS[:1]) != chain.extend(
        "b", 0, chain.genesis("b"), RECORDS[:1]
    )


def test_the_headers_read_back_as_the_same_link_and_a_record_without_them_has_none() -> None:
    [x] = chain.extend("redemption", 41, b"\x01" * 32, RECORDS[:1])
    assert chain.link_from_headers([("event_type", b"T"), *x.headers()]) == x
    assert chain.link_from_headers([("event_type", b"T")]) is None
    with pytest.raises(chain.MalformedLink):
        chain.link_from_headers([("chain", b"redemption"), ("chain_seq", b"x")])


def test_a_checkpoint_verifies_with_its_published_key_only_and_not_once_altered() -> None:
    key = Ed25519PrivateKey.generate()
    published = {"k1": key.public_key()}
    signed = chain.Checkpoint("redemption", 7, b"\x02" * 32, AT, "k1").signed(key)
    assert chain.Checkpoint.from_bytes(signed.to_bytes()) == signed
    assert signed.verifies(published)
    assert not signed.verifies({"k1": Ed25519PrivateKey.generate().public_key()})
    assert not signed.verifies({"k2": key.public_key()})
    forged = chain.Checkpoint("redemption", 8, signed.link, AT, "k1", signed.signature)
    assert not forged.verifies(published)


def test_the_public_key_round_trips_as_hex() -> None:
    key = Ed25519PrivateKey.generate()
    signed = chain.Checkpoint("s", 1, b"\x00" * 32, AT, "k").signed(key)
    assert signed.verifies({"k": chain.public_key_from_hex(chain.public_hex(key))})
