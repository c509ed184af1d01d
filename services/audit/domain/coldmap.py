"""A mapping that keeps its recently used values as objects and the rest compressed (pure).

The replay must keep every ticket and every order book to the end of the log (a voucher may be written off or an
order refunded months later), but it uses only a few at a time: each topic is read in order, and an order's events
are together. Kept as objects, a book or ticket costs a few kilobytes of small Python objects; pickled and
compressed, a few hundred bytes: a million generated events peak at about 370 MiB (docs/benchmarks.md).

Each value alone compresses poorly (a pickle of a few hundred bytes is mostly class and field names, which zlib
cannot find twice in it), so the map compresses every value with one preset dictionary: the pickles of the first
values it cooled. On a generated history that takes an order book from 640 to 210 bytes and a ticket from 486 to
45, for the same CPU.
"""

from __future__ import annotations

import itertools
import pickle
import zlib
from collections import OrderedDict
from collections.abc import Hashable, ItemsView, Iterator, MutableMapping, ValuesView
from typing import Any, Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Values kept as objects. Each topic is read once, so a value comes back within a topic only while its order's events
# follow each other (close together when generated; days apart in a real log, where no affordable size would hold
# them), and every hot value costs about 2.4 KB: 20,000 per map took some 100 MB of a million-event replay's 590.
# More than a batch of facts touches (ledger.BATCH); on a 20,000-order history 1,000 replay as fast as 5,000 (fewer
# live objects for the garbage collector to walk make up for the values compressed again).
HOT = 1_000
DICTIONARY_VALUES = 16  # the first values cooled, pickled, make the preset dictionary (at most zlib's 32 KiB window)


class ColdMap(MutableMapping[K, V], Generic[K, V]):
    def __init__(self, hot: int = HOT) -> None:
        self._hot: OrderedDict[K, V] = OrderedDict()
        self._cold: dict[K, bytes] = {}
        self._limit = hot
        self._zdict: bytes | None = None  # fixed once made: every compressed value needs it back

    def __getitem__(self, key: K) -> V:
        if key in self._hot:
            self._hot.move_to_end(key)
            return self._hot[key]
        value = self._unpack(self._cold.pop(key))  # KeyError when absent, as a mapping must
        self._warm(key, value)
        return value

    def values(self) -> ValuesView[V]:
        return _Values(self)

    def items(self) -> ItemsView[K, V]:
        return _Items(self)

    def peek(self, key: K) -> V:
        """The value, left where it is: a scan of every value would otherwise compress as many again, each one
        pushing an older one out. The replay never changes a value in place (they are frozen), so nothing is lost."""
        if key in self._hot:
            return self._hot[key]
        return self._unpack(self._cold[key])

    def __setitem__(self, key: K, value: V) -> None:
        self._cold.pop(key, None)
        self._warm(key, value)

    def __delitem__(self, key: K) -> None:
        if key in self._hot:
            del self._hot[key]
        else:
            del self._cold[key]

    def __contains__(self, key: object) -> bool:
        return key in self._hot or key in self._cold

    def __iter__(self) -> Iterator[K]:
        return iter([*self._hot, *self._cold])  # a snapshot: reading values moves them between the two

    def __len__(self) -> int:
        return len(self._hot) + len(self._cold)

    def _unpack(self, packed: bytes) -> V:
        unpack = zlib.decompressobj(zdict=self._zdict or b"")
        value: V = pickle.loads(unpack.decompress(packed) + unpack.flush())  # our own bytes, never from outside
        return value

    def _warm(self, key: K, value: V) -> None:
        self._hot[key] = value
        self._hot.move_to_end(key)
        while len(self._hot) > self._limit:
            if self._zdict is None:
                first = list(itertools.islice(self._hot.values(), DICTIONARY_VALUES))
                self._zdict = b"".join(pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for v in first)[-32768:]
            old, cooled = self._hot.popitem(last=False)
            pack = zlib.compressobj(6, zdict=self._zdict)
            self._cold[old] = pack.compress(pickle.dumps(cooled, pickle.HIGHEST_PROTOCOL)) + pack.flush()


class _Values(ValuesView[V]):
    _mapping: ColdMap[Any, V]

    def __iter__(self) -> Iterator[V]:
        return (self._mapping.peek(key) for key in self._mapping)


class _Items(ItemsView[K, V]):
    _mapping: ColdMap[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        return ((key, self._mapping.peek(key)) for key in self._mapping)
