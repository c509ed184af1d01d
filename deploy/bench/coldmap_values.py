"""The audit's cold values one by one: what pickling, zlib (as the replay used it before zstd) and zstd cost a value,
and their sizes (docs/benchmarks.md, "Audit: the cold maps compressed by zstd").

Replays the first `--records` of a generated history (deploy/bench/audit_cpu.py's, `--cache` to reuse it), then
times `--values` of each map's hot values: tickets, order books, transfer books. Wall time of this process only.

    python -m deploy.bench.coldmap_values --orders 10000 --cache /tmp/audit-10000.pickle
"""

from __future__ import annotations

import argparse
import pickle
import time
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from deploy.bench.audit_cpu import history
from services.audit.domain.coldmap import ColdMap, _Codec
from services.audit.domain.verify import Verifier

ZLIB_WINDOW_BITS, ZLIB_MEMORY_LEVEL = 14, 4  # what the replay's zlib compressor was made with


def micros(action: Callable[[Any], Any], items: Sequence[Any]) -> tuple[float, list[Any]]:
    started = time.perf_counter()
    out = [action(item) for item in items]
    return (time.perf_counter() - started) * 1e6 / len(items), out


def measure(name: str, cold: ColdMap[Any, Any], count: int) -> str:
    values = list(cold._hot.values())[:count]
    assert values and cold._codec is not None, f"{name}: nothing was cooled yet (more --records)"
    zdict = cold._codec.dictionary
    dumps, raws = micros(lambda v: pickle.dumps(v, pickle.HIGHEST_PROTOCOL), values)
    loads, _ = micros(pickle.loads, raws)

    def deflate(raw: bytes) -> bytes:
        pack = zlib.compressobj(6, zlib.DEFLATED, ZLIB_WINDOW_BITS, ZLIB_MEMORY_LEVEL, zlib.Z_DEFAULT_STRATEGY, zdict)
        return pack.compress(raw) + pack.flush()

    def inflate(packed: bytes) -> bytes:
        unpack = zlib.decompressobj(zdict=zdict)
        return unpack.decompress(packed) + unpack.flush()

    z_pack, deflated = micros(deflate, raws)
    z_unpack, _ = micros(inflate, deflated)
    codec = _Codec(zdict)
    s_pack, packed = micros(codec.pack, raws)
    s_unpack, back = micros(codec.unpack, packed)
    assert back == raws

    def size(items: list[bytes]) -> int:
        return sum(map(len, items)) // len(items)

    return (
        f"{name}: pickle {size(raws)} B, {dumps:.1f} µs to pickle, {loads:.1f} to unpickle; zlib {z_pack:.1f} µs"
        f" (compressor made and used), {z_unpack:.1f} to decompress, {size(deflated)} B; zstd {s_pack:.1f} µs,"
        f" {s_unpack:.1f} to decompress, {size(packed)} B"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, help="keep the generated records here, and reuse them")
    parser.add_argument("--records", type=int, default=60_000, help="records replayed before measuring")
    parser.add_argument("--values", type=int, default=500, help="values of each map measured")
    args = parser.parse_args()
    records, _ = history(args.orders, args.cache)
    verifier = Verifier()
    for record in records[: args.records]:
        verifier.feed(record)
    maps: dict[str, ColdMap[Any, Any]] = {
        "ticket": verifier.tickets.tickets,
        "order book": verifier.ledger.books,
        "transfer book": verifier.ledger.transfers,
    }
    for name, cold in maps.items():
        print(measure(name, cold, args.values))


if __name__ == "__main__":
    main()
