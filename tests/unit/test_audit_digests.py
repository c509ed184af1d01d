"""The audit's table of derived entries waiting for settlement's record: a mapping of 16-byte ids to digests."""

from __future__ import annotations

import hashlib
import pickle

import pytest

from services.audit.domain.digests import Digests

pytestmark = pytest.mark.unit


def _id(n: int) -> bytes:
    return hashlib.sha256(b"id%d" % n).digest()[:16]


def _digest(n: int) -> bytes:
    return hashlib.sha256(b"digest%d" % n).digest()[:16]


def test_each_digest_is_taken_once_through_growth_and_taken_slots() -> None:
    table, kept = Digests(), {}
    for n in range(5000):
        table.put(_id(n), _digest(n))
        kept[_id(n)] = _digest(n)
        if n % 3 == 0:  # taken while others still come: the probes must walk past the slots freed
            assert table.pop(_id(n // 2)) == kept.pop(_id(n // 2), None)
    table.put(_id(4999), _digest(0))  # in place of the one kept
    kept[_id(4999)] = _digest(0)
    assert len(table) == len(kept) and sorted(table) == sorted(kept)
    assert table.pop(_id(10**6)) is None
    for entry_id, digest in kept.items():
        assert table.pop(entry_id) == digest
        assert table.pop(entry_id) is None
    assert len(table) == 0 and list(table) == []


def test_a_checkpointed_table_reads_back_the_same() -> None:
    table = Digests()
    for n in range(3000):
        table.put(_id(n), _digest(n))
    for n in range(0, 3000, 2):
        table.pop(_id(n))
    loaded = pickle.loads(pickle.dumps(table))
    assert len(loaded) == 1500 and sorted(loaded) == sorted(table)
    assert all(loaded.pop(_id(n)) == (None if n % 2 == 0 else _digest(n)) for n in range(3000))


def test_an_id_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        Digests().put(b"short", _digest(1))
