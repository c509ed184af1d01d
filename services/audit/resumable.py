"""`verify --checkpoint FILE`: a long replay saves where it is, and a rerun with the same file goes on from there.

The file holds what was read (per topic and partition, the next offset; the end offsets the run set out to reach)
and the verifier's whole rebuilt state at that point, taken between two records, so the rerun reads each remaining
record once and ends with the report one uninterrupted run gives. It is written atomically (a temporary file,
fsync, rename) every `every` seconds, when `--stop-after` records were read, on SIGINT or SIGTERM, and when the
log is read to its end (before the end-of-log checks: a rerun after that reads nothing and reports the same).

The state is a pickle (gzip): the auditor's own working file, never one taken from someone else (unpickling runs
code). The merchants' keys of the inputs check are secrets and are not written: the rerun takes them from its own
arguments, which must otherwise be the same (`Mismatch` says which differ).
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import pickle
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from services.audit import report
from services.audit.domain.records import Record
from services.audit.domain.verify import Verifier
from services.audit.reader import KafkaLog, Span
from shared.settings import Settings

FORMAT = "ecticket.audit.resume.v1"
SECRETS = ("keys",)  # attributes of the inputs check that are never written (the merchants' keys)


class Mismatch(ValueError):
    """The checkpoint was made by a run with other options or another source: resuming it would mix two audits."""


@dataclass
class Resumable:
    path: Path
    source: dict[str, Any]  # what is read (topics or export, since): must be the same on a rerun
    every: float = 60.0
    stop_after: int | None = None  # records to read in this run before saving and stopping
    positions: dict[str, dict[int, int]] = field(default_factory=dict)  # topic -> partition -> next offset
    ends: dict[str, dict[int, int]] | None = None  # the end offsets the first run set out to reach
    read: int = 0  # records read in this run
    stopping: bool = False
    _saved_at: float = field(default_factory=time.monotonic)

    def resume(self, fresh: Verifier) -> Verifier:
        """The saved verifier (with `fresh`'s secrets), or `fresh` when there is no checkpoint yet."""
        if not self.path.exists():
            return fresh
        with gzip.open(self.path, "rb") as f:
            saved = pickle.load(f)  # the auditor's own file: see the module's docstring
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            raise Mismatch(f"{self.path} is not an audit checkpoint ({FORMAT})")
        ours = {"source": self.source, "options": fresh.options, "inputs": _shape(fresh.inputs)}
        theirs = {"source": saved["source"], "options": saved["verifier"].options, "inputs": _shape(saved["inputs"])}
        differ = sorted(k for k in ours if ours[k] != theirs[k])
        if differ:
            raise Mismatch(f"{self.path} was made with another {' and '.join(differ)}: {theirs} (now {ours})")
        verifier: Verifier = saved["verifier"]
        verifier.inputs = saved["inputs"]
        if verifier.inputs is not None:
            for name in SECRETS:
                setattr(verifier.inputs, name, getattr(fresh.inputs, name))
        self.positions, self.ends = saved["positions"], saved["ends"]
        return verifier

    def spans(self, spans: list[Span]) -> list[Span]:
        """What is left to read: from the saved positions to the ends the first run set out to reach."""
        if self.ends is None:
            self.ends = {s.topic: dict(s.ends) for s in spans}
        left = []
        for s in spans:
            ends = self.ends.get(s.topic, {})
            done = self.positions.get(s.topic, {})
            starts = {p: max(s.starts.get(p, 0), done.get(p, 0)) for p in ends}
            left.append(Span(s.topic, {p: min(starts[p], ends[p]) for p in ends}, ends))
        return left

    def advance(self, verifier: Verifier, record: Record) -> bool:
        """After `record` was fed: saves when due; True when the run must stop here (it is saved)."""
        self.positions.setdefault(record.topic, {})[record.partition] = record.offset + 1
        self.read += 1
        if self.stopping or (self.stop_after is not None and self.read >= self.stop_after):
            self.save(verifier)
            return True
        if time.monotonic() - self._saved_at >= self.every:
            self.save(verifier)
        return False

    def save(self, verifier: Verifier) -> None:
        inputs = verifier.inputs
        kept = None if inputs is None else _without_secrets(inputs)
        state = {"format": FORMAT, "source": self.source, "positions": self.positions, "ends": self.ends,
                 "verifier": verifier, "inputs": kept}  # fmt: skip
        temporary = self.path.with_name(self.path.name + ".tmp")
        verifier.inputs = None  # written once, without its secrets, as "inputs"
        try:
            with open(temporary, "wb") as raw:
                with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as f:
                    pickle.dump(state, f, pickle.HIGHEST_PROTOCOL)  # streamed: no second copy of the state
                raw.flush()
                os.fsync(raw.fileno())
        finally:
            verifier.inputs = inputs
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._saved_at = time.monotonic()

    @contextlib.contextmanager
    def stop_on_signals(self) -> Iterator[None]:
        """SIGINT / SIGTERM: finish the record being checked, save, stop (never a half-fed state)."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._stop)
        try:
            yield
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)

    def _stop(self) -> None:
        self.stopping = True


async def verify_kafka(
    verifier: Verifier, topics: list[str], since: datetime | None, quiet: bool, resumable: Resumable
) -> tuple[Verifier, bool]:
    """Feeds what is left of the log to the saved verifier (or to `verifier` on a first run); returns it and
    whether the log was read to its end (False: stopped early, saved)."""
    verifier = resumable.resume(verifier)
    log = KafkaLog(Settings.from_env().kafka_bootstrap)
    await log.start()
    try:
        spans = resumable.spans(await log.spans(topics, since))
        progress = report.Progress(sum(s.size for s in spans), enabled=not quiet)
        with resumable.stop_on_signals():
            for span in spans:
                async for record in log.records(span):
                    verifier.feed(record)
                    progress.advance(span.topic)
                    if resumable.advance(verifier, record):
                        progress.close()
                        return verifier, False
        resumable.save(verifier)
        progress.close()
    finally:
        await log.stop()
    return verifier, True


def _without_secrets(inputs: object) -> object:
    kept = object.__new__(type(inputs))
    kept.__dict__.update({k: ({} if k in SECRETS else v) for k, v in vars(inputs).items()})
    return kept


def _shape(inputs: object | None) -> dict[str, Any] | None:
    """How the inputs check was set up, its secrets left out (a rerun must check the archive the same way)."""
    if inputs is None:
        return None
    return {k: v for k, v in vars(inputs).items() if k in ("merchant_id", "since_ms")}
