"""The log exported for offline work: `records.jsonl` (every record exactly: bytes in base64, so the chain verifies),
`events.csv` (one readable row per event), `manifest.json` (counts per topic, the files' SHA-256, the checkpoints).

`verify --export DIR` reads `records.jsonl` back, after checking it against the manifest. An export holds every
record of every audited topic (or one merchant's events plus everything the chain needs: all of it, since a chain
with holes does not verify; the merchant filter is applied by the verification, not the export).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

from services.audit.domain.records import Record
from shared import chain
from shared.topics import AUDIT_INPUTS

RECORDS = "records.jsonl"
EVENTS = "events.csv"
MANIFEST = "manifest.json"
CSV_COLUMNS = ("topic", "partition", "offset", "timestamp_ms", "key", "event_type", "event_id", "occurred_at",
               "producer", "chain", "chain_seq", "chain_link", "payload")  # fmt: skip


class ExportMismatch(ValueError):
    """The export's files are not the ones its manifest describes."""


def to_line(record: Record) -> str:
    return json.dumps({
        "topic": record.topic, "partition": record.partition, "offset": record.offset,
        "timestamp_ms": record.timestamp_ms,
        "key": None if record.key is None else base64.b64encode(record.key).decode(),
        "value": base64.b64encode(record.value).decode(),
        "headers": [[name, base64.b64encode(value).decode()] for name, value in record.headers],
    }, separators=(",", ":"))  # fmt: skip


def from_line(line: str) -> Record:
    r = json.loads(line)
    key = None if r["key"] is None else base64.b64decode(r["key"])
    headers = tuple((str(name), base64.b64decode(value)) for name, value in r["headers"])
    return Record(r["topic"], int(r["partition"]), int(r["offset"]), int(r["timestamp_ms"]), key,
                  base64.b64decode(r["value"]), headers)  # fmt: skip


async def write(records: AsyncIterator[Record], out: Path) -> dict[str, object]:
    """Write the three files from `records` (streamed) and return the manifest."""
    out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - a CLI writing its own files; nothing else waits
    counts: Counter[str] = Counter()
    checkpoints = []
    digests = {RECORDS: hashlib.sha256(), EVENTS: hashlib.sha256()}
    with (out / RECORDS).open("w") as jsonl, (out / EVENTS).open("w", newline="") as events:
        header = _csv_line(list(CSV_COLUMNS))
        events.write(header)
        digests[EVENTS].update(header.encode())
        async for record in records:
            line = to_line(record) + "\n"
            jsonl.write(line)
            digests[RECORDS].update(line.encode())
            counts[record.topic] += 1
            if record.topic.startswith("ecticket.audit.checkpoints"):
                checkpoints.append(json.loads(record.value))
                continue
            row = _csv_line(_csv_row(record))
            events.write(row)
            digests[EVENTS].update(row.encode())
    manifest: dict[str, object] = {
        "format": "ecticket-audit-export/1",
        "records": sum(counts.values()),
        "per_topic": dict(counts),
        "sha256": {name: d.hexdigest() for name, d in digests.items()},
        "checkpoints": checkpoints,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def read(directory: Path) -> tuple[dict[str, object], Iterator[Record]]:
    """The manifest, and the records once `records.jsonl` is known to be the file it describes."""
    manifest = json.loads((directory / MANIFEST).read_text())
    digest = hashlib.sha256()
    with (directory / RECORDS).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    expected = manifest["sha256"][RECORDS]
    if digest.hexdigest() != expected:
        raise ExportMismatch(f"{RECORDS} has SHA-256 {digest.hexdigest()}, the manifest says {expected}")

    def records() -> Iterator[Record]:
        with (directory / RECORDS).open() as f:
            for line in f:
                yield from_line(line)

    return manifest, records()


def _csv_row(record: Record) -> list[str]:
    try:
        envelope = json.loads(record.value)
    except ValueError:
        envelope = {}
    try:
        link = chain.link_from_headers(record.headers)
    except chain.MalformedLink:
        link = None
    if record.topic.startswith(AUDIT_INPUTS):  # a signed input, not an event: its kind and its bytes as text
        kind = dict(record.headers).get("event_type", b"").decode(errors="replace")
        envelope = {"event_type": kind, "payload": record.value.decode(errors="replace")}
    return [
        record.topic, str(record.partition), str(record.offset), str(record.timestamp_ms),
        (record.key or b"").decode(errors="replace"), str(envelope.get("event_type", "")),
        str(envelope.get("event_id", "")), str(envelope.get("occurred_at", "")), str(envelope.get("producer", "")),
        link.service if link else "", str(link.seq) if link else "", link.link.hex() if link else "",
        payload if isinstance(payload := envelope.get("payload", {}), str) else
        json.dumps(payload, separators=(",", ":"), sort_keys=True),
    ]  # fmt: skip


def _csv_line(row: list[str]) -> str:
    """One CSV line, written and hashed as the same string."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue()
