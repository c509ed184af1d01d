"""Where a paid order's CPU goes, by kind of work (issue 17's budget table): `make profile` samples every service
with py-spy over the pipeline's measured burst, and each sample is put in the first kind its stack names, from the
innermost frame out. A service's CPU per order (from /proc, its relay child apart) is then split in the shares of
its samples.

Samples of a thread waiting (a thread pool's idle worker, a selector, uvloop's loop itself) are left out: py-spy's
own idle detection keeps many of them here, and they would dilute every share. uvloop's own work in C (callbacks,
socket reads) goes with them, so "the rest" is a little low and the other kinds a little high.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

PARSING = ("validate_json (", "validate_python (", "model_validate", "loads (json/", "decode (json/", "parse",
           "(shared/bounded_json.py", "(shared/infra/intake.py")  # fmt: skip
SERIALISING = ("dump_json (", "model_dump", "dumps (json/", "encode (json/", "to_wire", "(shared/contracts/events.py",
               "(shared/contracts/envelope.py")  # fmt: skip
KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SQL (asyncpg)", ("(asyncpg/",)),
    ("Kafka client (aiokafka)", ("(aiokafka/",)),
    (
        "crypto (Data, checksums, seals, chain, codes)",
        (
            "(shared/ecticket/crypto.py",
            "(shared/ecticket/urlencoding.py",
            "(cryptography/",
            "(shared/infra/seal.py",
            "(shared/chain.py",
            "(shared/infra/chain.py",
            "(shared/ecticket/write_off_codes.py",
        ),
    ),
    ("parsing and validation", PARSING),
    ("event serialisation", SERIALISING),
    ("decisions (pure domain core)", ("/domain/",)),
)
REST = "the rest (handlers, consumer loop, event loop)"
RELAY = "its relay process"
IDLE_LEAVES = (  # in a sample's innermost frame: the thread waits (asyncio's selector, uvloop's loop, a pool, a lock)
    "_worker (concurrent/futures/thread.py",
    "select (selectors.py",
    "_do_waitpid (asyncio/unix_events.py",
    "wait (threading.py",
    "Runner.run (asyncio/runners.py",
)


def kind_of(frames: list[str]) -> str | None:
    """The kind of work of one sample's stack (outermost frame first), None for a thread waiting."""
    if not frames or any(leaf in frames[-1] for leaf in IDLE_LEAVES):
        return None
    for frame in reversed(frames):
        for kind, marks in KINDS:
            if any(mark in frame for mark in marks):
                return kind
    return REST


def shares(raw: Path) -> dict[str, float]:
    """Each kind's share of the main process's working samples in a py-spy `--format raw --subprocesses` file."""
    counts: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        parts = stack.split(";")
        if not parts[0].startswith("process ") or (len(parts) > 1 and parts[1].startswith("process ")):
            continue  # a child's sample (its relay): measured as a process of its own
        kind = kind_of(parts[1:])
        if kind is not None:
            counts[kind] += int(count)
    total = sum(counts.values())
    return {kind: n / total for kind, n in counts.items()} if total else {}


def table(per_order_ms: dict[str, tuple[float, float]], folder: Path) -> list[str]:
    """Markdown rows: per service, its own CPU per order split by kind, and its relay's. `per_order_ms` maps a
    service to (its own process's ms per order, its relay's); each profile is `folder/<service>.raw.txt`."""
    kinds = [kind for kind, _ in KINDS] + [REST]
    lines = ["| service | " + " | ".join(kinds) + f" | {RELAY} | all |", "|---" * (len(kinds) + 3) + "|"]
    for name, (own, relay) in sorted(per_order_ms.items()):
        raw = folder / f"{name}.raw.txt"
        split = shares(raw) if raw.exists() else {}
        cells = [f"{own * split.get(kind, 0.0):.3f}" if split else "?" for kind in kinds]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {relay:.3f} | {own + relay:.3f} |")
    return lines
