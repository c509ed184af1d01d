"""A mapping that keeps its recently used values as objects and the rest compressed (pure).

The replay must keep every ticket and every order book to the end of the log (a voucher may be written off or an
order refunded months later), but it uses only a few at a time: each topic is read in order, and an order's events
are together. Kept as objects, a book or ticket costs a few kilobytes of small Python objects; pickled and
compressed, a few hundred bytes: a million generated events peak at about 420 MiB (docs/benchmarks.md).

Each value alone compresses poorly (a pickle of a few hundred bytes is mostly class and field names, which a
compressor cannot find twice in it), so the map compresses every value with one preset dictionary: the pickles of
the first values it cooled. On a generated history that took an order book from 640 to 210 bytes and a ticket from
486 to 45 with zlib, for the same CPU (zstd: 7-16 % larger).

Cooling and warming are most of what the replay spends on these maps (a third of its CPU, py-spy on 2,000 orders):
each topic read warms every order's values once and cools as many. So the first values to leave the hot window are
kept as objects for good (`KEPT`), as many as the memory bar allows; a value read and not replaced is cooled back
to the bytes it came from (they are still the same value), and the values are compressed by zstd with the preset
dictionary digested once (`zstandard`): zlib had to hash its dictionary again for every value it compressed (a
compressor can be used only once), 20 to 46 µs a value against 2 to 10 (docs/benchmarks.md).
"""

from __future__ import annotations

import itertools
import pickle
import zlib
from collections import OrderedDict
from collections.abc import Hashable, ItemsView, Iterator, MutableMapping, ValuesView
from typing import Any, Generic, TypeVar

import zstandard

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# Values kept as objects. Each topic is read once, so a value comes back within a topic only while its order's events
# follow each other (close together when generated; days apart in a real log, where no affordable size would hold
# them), and every hot value costs about 2.4 KB: 20,000 per map took some 100 MB of a million-event replay's 590.
# More than a batch of facts touches (ledger.BATCH); on a 20,000-order history 1,000 replay as fast as 5,000 (fewer
# live objects for the garbage collector to walk make up for the values compressed again).
HOT = 1_000
DICTIONARY_VALUES = 16  # the first values cooled, pickled, make the preset dictionary (at most DICTIONARY_BYTES)
# What zlib's 16 KiB window could hold (16 KiB less its 262-byte lookahead): kept for zstd, which has no such limit,
# so that sizes stay comparable with the zlib version's; not tuned since.
DICTIONARY_BYTES = 16_122
LEVEL = 3  # zstd's default: on these values level 1 is no faster and 5 % larger
# Values that leave the hot window while the map holds fewer than this many kept ones stay objects for good: each
# topic is a pass over every order, and a cache smaller than that working set gets no hits under LRU (each value is
# pushed out before its order comes back in the next topic), whereas values kept for good are hits on every pass.
# Measured from Kafka (docs/benchmarks.md, "Audit: a million events back under the bar"): 10,000 orders verified
# 38-41 % faster (all their books kept, 11,000 of their 18,000 tickets); a million events no faster (a tenth of the
# values kept) and 40 MB more at the peak, 420 MiB; 50,000 a map took that peak to 549 MiB, over the 500 MB bar.
KEPT = 10_000


class ColdMap(MutableMapping[K, V], Generic[K, V]):
    def __init__(self, hot: int = HOT, kept: int = KEPT) -> None:
        self._hot: OrderedDict[K, V] = OrderedDict()
        self._kept: dict[K, V] = {}  # left the hot window while there was room: objects for good, never compressed
        self._keep = kept
        self._cold: dict[K, bytes] = {}
        self._limit = hot
        self._codec: _Codec | None = None  # made from the first values cooled, then fixed: every value needs it
        self._packed: dict[K, bytes] = {}  # hot values read from cold and not replaced since: their bytes

    def __getitem__(self, key: K) -> V:
        if key in self._hot:
            self._hot.move_to_end(key)
            return self._hot[key]
        if key in self._kept:
            return self._kept[key]
        packed = self._cold.pop(key)  # KeyError when absent, as a mapping must
        value = self._unpack(packed)
        self._packed[key] = packed
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
        if key in self._kept:
            return self._kept[key]
        return self._unpack(self._cold[key])

    def __setitem__(self, key: K, value: V) -> None:
        if key in self._kept:
            self._kept[key] = value
            return
        self._cold.pop(key, None)
        self._packed.pop(key, None)
        self._warm(key, value)

    def __delitem__(self, key: K) -> None:
        self._packed.pop(key, None)
        if key in self._hot:
            del self._hot[key]
        elif key in self._kept:
            del self._kept[key]
        else:
            del self._cold[key]

    def __contains__(self, key: object) -> bool:
        return key in self._hot or key in self._kept or key in self._cold

    def __iter__(self) -> Iterator[K]:
        return iter([*self._hot, *self._kept, *self._cold])  # a snapshot: reading values moves them between these

    def __len__(self) -> int:
        return len(self._hot) + len(self._kept) + len(self._cold)

    def _unpack(self, packed: bytes) -> V:
        assert self._codec is not None  # nothing is cold before the first value cooled made it
        value: V = pickle.loads(self._codec.unpack(packed))  # our own bytes, never from outside
        return value

    def _warm(self, key: K, value: V) -> None:
        self._hot[key] = value
        self._hot.move_to_end(key)
        while len(self._hot) > self._limit:
            old, cooled = self._hot.popitem(last=False)
            packed = self._packed.pop(old, None)
            if len(self._kept) < self._keep:
                self._kept[old] = cooled
            else:
                self._cold[old] = self._pack(cooled) if packed is None else packed

    def _pack(self, value: V) -> bytes:
        if self._codec is None:
            first = list(itertools.islice(self._hot.values(), DICTIONARY_VALUES - 1))
            pickles = b"".join(pickle.dumps(v, pickle.HIGHEST_PROTOCOL) for v in [value, *first])
            self._codec = _Codec(pickles[-DICTIONARY_BYTES:])
        return self._codec.pack(pickle.dumps(value, pickle.HIGHEST_PROTOCOL))

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A checkpoint of an older version resumes: one saved before `_packed` existed with none (its values are
        compressed again), one whose values zlib compressed (`_zdict`, its dictionary) with them recompressed, one
        saved before values were kept with none kept (it goes on as it began)."""
        zdict = state.pop("_zdict", None)
        if zdict is not None:
            codec = state["_codec"] = _Codec(zdict)
            state["_cold"] = {key: codec.pack(_inflate(packed, zdict)) for key, packed in state["_cold"].items()}
            state["_packed"] = {}
        self.__dict__.update({"_packed": {}, "_codec": None, "_kept": {}, "_keep": 0, **state})


class _Codec:
    """zstd with a preset dictionary digested once; pickled as the dictionary alone (zstandard's objects are not)."""

    def __init__(self, dictionary: bytes) -> None:
        self.dictionary = dictionary
        digested = zstandard.ZstdCompressionDict(dictionary, dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        digested.precompute_compress(level=LEVEL)
        # The frame keeps the value's size (the decompressor needs it) and nothing else: no checksum, no dictionary
        # id (the map has one dictionary), a few bytes less on each of a million values.
        self._compressor = zstandard.ZstdCompressor(
            level=LEVEL, dict_data=digested, write_checksum=False, write_content_size=True, write_dict_id=False
        )
        self._decompressor = zstandard.ZstdDecompressor(dict_data=digested)

    def pack(self, raw: bytes) -> bytes:
        # A copy of exactly its size: zstandard (0.25) returns the value in the buffer it compressed into, sized for
        # the worst case (about 1.2 KB for a 300-byte value), and the map keeps it for the whole replay. Kept as
        # returned, they took a million-event replay from 370 to 623 MiB (docs/benchmarks.md).
        return bytes(memoryview(self._compressor.compress(raw)))

    def unpack(self, packed: bytes) -> bytes:
        return self._decompressor.decompress(packed)

    def __reduce__(self) -> tuple[type[_Codec], tuple[bytes]]:
        return _Codec, (self.dictionary,)


def _inflate(packed: bytes, zdict: bytes) -> bytes:
    """A value as the versions before zstd compressed it."""
    unpack = zlib.decompressobj(zdict=zdict)
    return unpack.decompress(packed) + unpack.flush()


class _Values(ValuesView[V]):
    _mapping: ColdMap[Any, V]

    def __iter__(self) -> Iterator[V]:
        return (self._mapping.peek(key) for key in self._mapping)


class _Items(ItemsView[K, V]):
    _mapping: ColdMap[K, V]

    def __iter__(self) -> Iterator[tuple[K, V]]:
        return ((key, self._mapping.peek(key)) for key in self._mapping)
