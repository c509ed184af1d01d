"""The audit's ColdMap: a mapping whatever it keeps as objects and whatever it compresses."""

from __future__ import annotations

import pickle
import tracemalloc
import zlib
from collections import Counter, OrderedDict

import pytest

from services.audit.domain.coldmap import ColdMap, _Codec

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("kept", [0, 2, 20])
def test_values_read_back_equal_whether_kept_as_objects_or_compressed(kept: int) -> None:
    cold: ColdMap[str, dict[str, int]] = ColdMap(hot=3, kept=kept)
    for n in range(10):
        cold[f"k{n}"] = {"n": n}
    assert len(cold) == 10 and sorted(cold) == sorted(f"k{n}" for n in range(10))
    assert [cold[f"k{n}"]["n"] for n in range(10)] == list(range(10))
    cold["k0"] = {"n": 100}
    del cold["k5"]
    assert cold["k0"] == {"n": 100} and "k5" not in cold and len(cold) == 9
    assert dict(cold.items()) == {f"k{n}": {"n": 100 if n == 0 else n} for n in range(10) if n != 5}
    with pytest.raises(KeyError):
        cold["nothing"]


def test_a_scan_reads_every_value_and_leaves_the_hot_ones_as_they_are() -> None:
    cold: ColdMap[str, int] = ColdMap(hot=2, kept=0)
    for n in range(6):
        cold[f"k{n}"] = n
    assert sorted(cold.values()) == list(range(6)) and dict(cold.items()) == {f"k{n}": n for n in range(6)}
    assert cold.peek("k0") == 0 and list(cold)[:2] == ["k4", "k5"]  # still the last two written


def test_a_value_read_then_replaced_cools_as_the_new_value_not_the_bytes_it_was_read_from() -> None:
    cold: ColdMap[str, int] = ColdMap(hot=1, kept=0)
    cold["a"], cold["b"] = 1, 2
    assert cold["a"] == 1  # warmed from its bytes; "b" cools
    cold["a"] = 10
    assert cold["b"] == 2 and cold["a"] == 10 and cold["b"] == 2  # "a" went cold and came back


def test_a_map_saved_before_it_kept_read_values_bytes_still_loads_and_reads() -> None:
    cold: ColdMap[str, int] = ColdMap(hot=1, kept=0)
    cold["a"], cold["b"] = 1, 2
    state = dict(vars(cold))
    del state["_packed"]
    loaded: ColdMap[str, int] = ColdMap.__new__(ColdMap)
    loaded.__setstate__(state)
    assert loaded["a"] == 1 and loaded["b"] == 2 and loaded["a"] == 1


def test_a_map_saved_when_zlib_compressed_its_values_resumes_with_them_recompressed() -> None:
    zdict = pickle.dumps({"n": 0}, pickle.HIGHEST_PROTOCOL)

    def deflated(value: object) -> bytes:
        pack = zlib.compressobj(6, zlib.DEFLATED, 14, 4, zlib.Z_DEFAULT_STRATEGY, zdict)
        return pack.compress(pickle.dumps(value, pickle.HIGHEST_PROTOCOL)) + pack.flush()

    state = {
        "_hot": OrderedDict(c={"n": 3}),
        "_cold": {"a": deflated({"n": 1}), "b": deflated({"n": 2})},
        "_limit": 1,
        "_zdict": zdict,
        "_packed": {},
    }
    loaded: ColdMap[str, dict[str, int]] = ColdMap.__new__(ColdMap)
    loaded.__setstate__(state)
    assert dict(loaded.items()) == {"a": {"n": 1}, "b": {"n": 2}, "c": {"n": 3}}
    assert loaded["a"] == {"n": 1} and loaded["c"] == {"n": 3} and loaded["b"] == {"n": 2}


def test_a_map_pickled_and_loaded_reads_back_every_value() -> None:
    cold: ColdMap[str, int] = ColdMap(hot=2, kept=5)
    for n in range(20):
        cold[f"k{n}"] = n
    loaded = pickle.loads(pickle.dumps(cold))
    assert dict(loaded.items()) == {f"k{n}": n for n in range(20)} and loaded["k0"] == 0


class CountingMap(ColdMap[str, int]):
    """Counts the values it compresses."""

    packed: list[int]

    def _pack(self, value: int) -> bytes:
        self.packed.append(value)
        return super()._pack(value)


def test_values_kept_for_good_are_never_compressed_however_often_a_pass_over_every_key_comes_back() -> None:
    cold = CountingMap(hot=2, kept=3)
    cold.packed = []
    for n in range(8):
        cold[f"k{n}"] = n
    assert cold.packed == [3, 4, 5]  # k0-k2 were kept as they left the hot window (k6 and k7 are the hot ones)
    cold.packed.clear()
    for _ in range(3):  # a topic after another: every key read, then replaced by its next version
        for n in range(8):
            cold[f"k{n}"] = cold[f"k{n}"] + 100
    compressed = Counter(value % 100 for value in cold.packed)
    assert compressed.keys() == {3, 4, 5, 6, 7} and min(compressed.values()) == 3  # once a pass; k0-k2 never
    assert dict(cold.items()) == {f"k{n}": n + 300 for n in range(8)}
    del cold["k1"]
    assert "k1" not in cold and len(cold) == 7 and cold["k0"] == 300


def test_a_map_saved_before_it_kept_values_for_good_loads_and_keeps_none() -> None:
    cold: ColdMap[str, int] = ColdMap(hot=1, kept=0)
    cold["a"], cold["b"] = 1, 2
    state = dict(vars(cold))
    del state["_kept"], state["_keep"]
    loaded: ColdMap[str, int] = ColdMap.__new__(ColdMap)
    loaded.__setstate__(state)
    loaded["c"] = 3
    assert dict(loaded.items()) == {"a": 1, "b": 2, "c": 3} and loaded["a"] == 1


def test_a_compressed_value_holds_the_memory_of_its_bytes_not_of_the_compressors_worst_case_buffer() -> None:
    codec = _Codec(pickle.dumps(list(range(3000))))
    raws = [pickle.dumps({"n": n, "text": "x" * 700}) for n in range(1000)]
    tracemalloc.start()
    try:
        packed = [codec.pack(raw) for raw in raws]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Each bytes object costs its length plus a 33-byte header (and the list its pointer); zstandard's own buffer,
    # kept as returned, held about 840 bytes for each of these 47-byte values.
    assert held < sum(len(p) for p in packed) + 64 * len(packed)
