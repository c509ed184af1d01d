"""The audit's ColdMap: a mapping whatever it keeps compressed."""

from __future__ import annotations

import pickle
import zlib
from collections import OrderedDict

import pytest

from services.audit.domain.coldmap import ColdMap

pytestmark = pytest.mark.unit


def test_values_read_back_equal_whether_kept_as_objects_or_compressed() -> None:
    cold: ColdMap[str, dict[str, int]] = ColdMap(hot=3)
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
    cold: ColdMap[str, int] = ColdMap(hot=2)
    for n in range(6):
        cold[f"k{n}"] = n
    assert sorted(cold.values()) == list(range(6)) and dict(cold.items()) == {f"k{n}": n for n in range(6)}
    assert cold.peek("k0") == 0 and list(cold)[:2] == ["k4", "k5"]  # still the last two written


def test_a_value_read_then_replaced_cools_as_the_new_value_not_the_bytes_it_was_read_from() -> None:
    cold: ColdMap[str, int] = ColdMap(hot=1)
    cold["a"], cold["b"] = 1, 2
    assert cold["a"] == 1  # warmed from its bytes; "b" cools
    cold["a"] = 10
    assert cold["b"] == 2 and cold["a"] == 10 and cold["b"] == 2  # "a" went cold and came back


def test_a_map_saved_before_it_kept_read_values_bytes_still_loads_and_reads() -> None:
    cold: ColdMap[str, int] = ColdMap(hot=1)
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
    cold: ColdMap[str, int] = ColdMap(hot=2)
    for n in range(20):
        cold[f"k{n}"] = n
    loaded = pickle.loads(pickle.dumps(cold))
    assert dict(loaded.items()) == {f"k{n}": n for n in range(20)} and loaded["k0"] == 0
