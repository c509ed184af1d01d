"""Will this broker's next restart drop every SCRAM credential? Kafka's defect of docs/decisions.md ("A broker that
refuses every principal"), predicted from the node's metadata log before it is restarted:

    python deploy/local/kafka/scram_restart_risk.py .run/dev/kafka/data/__cluster_metadata-0 [--jars DIR]

A restart rebuilds the metadata image by replaying the log. Without a snapshot, the replay is one change from an
empty image, and Kafka's `ScramDelta.apply()` (4.1.1 to 4.2.0) loses every user of a mechanism when the first user it
meets in that change was deleted. It meets them in Java's `HashMap` order of the user names, which this tool computes.
With a snapshot (a `.checkpoint` file), the image is loaded from it first, and the log after it applies on top: no
risk. The log is read with Kafka's DumpLogSegments (the jars infra.sh fetched, or `--jars`).

Prints the verdict and exits 0 (no risk), 2 (the next restart drops every credential of a mechanism) or 1 (the log
could not be read). Assumes the whole log is replayed as one change, as seen on a 360 KB log; Kafka may split a much
longer one, and then only a deletion in its first part matters, so on a long log the tool can report a risk that is
not there, never the other way round.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
JARS = ROOT / ".cache" / "kafka-jars"  # where deploy/local/infra.sh puts Kafka's jars
RECORD = re.compile(
    r'"type":"(REMOVE_)?USER_SCRAM_CREDENTIAL_RECORD","version":\d+,"data":\{"name":"([^"]*)","mechanism":(\d+)'
)


@dataclass(frozen=True)
class Change:
    name: str
    mechanism: int
    removed: bool


def java_string_hash(text: str) -> int:
    """Java's `String.hashCode` (over UTF-16 code units, in 32-bit arithmetic), as an unsigned 32-bit value."""
    h = 0
    units = text.encode("utf-16-be")
    for i in range(0, len(units), 2):
        h = (31 * h + int.from_bytes(units[i : i + 2], "big")) & 0xFFFFFFFF
    return h


def hashmap_order(keys: list[str]) -> list[str]:
    """The order a `java.util.HashMap` filled with `keys` (in that order, default capacity and load factor) iterates
    them: by bucket (the hash spread as `HashMap.hash` does, masked by the capacity), then in insertion order."""
    capacity = 16
    while len(keys) > capacity * 3 // 4:
        capacity *= 2

    def bucket(key: str) -> int:
        h = java_string_hash(key)
        return (h ^ (h >> 16)) & (capacity - 1)

    return [key for _, _, key in sorted((bucket(key), i, key) for i, key in enumerate(keys))]


def changes_of(dump: str) -> list[Change]:
    return [Change(m.group(2), int(m.group(3)), m.group(1) is not None) for m in RECORD.finditer(dump)]


def lost_mechanisms(changes: list[Change]) -> dict[int, str]:
    """Each mechanism whose every user one replay from an empty image loses, with the deleted user met first."""
    lost = {}
    for mechanism in sorted({c.mechanism for c in changes}):
        last: dict[str, bool] = {}  # name -> removed, in order of first appearance (the replayed map's insertion)
        for change in changes:
            if change.mechanism == mechanism:
                last[change.name] = change.removed
        first = hashmap_order(list(last))[0]
        if last[first]:
            lost[mechanism] = first
    return lost


def dump_of(metadata: Path, jars: Path) -> str:
    logs = sorted(metadata.glob("*.log"))
    if not logs:
        raise FileNotFoundError(f"no log segments in {metadata}")
    command = ["java", "-cp", f"{jars}/*", "kafka.tools.DumpLogSegments", "--cluster-metadata-decoder", "--files"]
    return subprocess.run([*command, ",".join(map(str, logs))], capture_output=True, text=True, check=True).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("metadata", type=Path, help="the node's __cluster_metadata-0 directory")
    parser.add_argument("--jars", type=Path, default=JARS)
    args = parser.parse_args()
    snapshots = sorted(args.metadata.glob("*.checkpoint"))
    if snapshots:
        print(f"no risk: the restart loads the snapshot {snapshots[-1].name} first")
        return 0
    try:
        lost = lost_mechanisms(changes_of(dump_of(args.metadata, args.jars)))
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"could not read the metadata log: {exc}", file=sys.stderr)
        return 1
    if not lost:
        print("no risk: the first user the replay meets was not deleted (or none was)")
        return 0
    for mechanism, name in lost.items():
        print(f"at risk: the next restart drops every credential of SCRAM mechanism {mechanism}: the replay meets "
              f"{name!r}, deleted, first (docs/decisions.md, \"A broker that refuses every principal\")")  # fmt: skip
    return 2


if __name__ == "__main__":
    sys.exit(main())
