"""The hash chain, checked record by record and as a whole (pure).

Per service, the link and the `prev` of every event seen are kept (16 bytes of each: a second preimage of a
128-bit prefix is as far out of reach as the whole hash) with where it was read, in flat arrays: about 50 bytes an
event, so a million events cost some 50 MB and no per-event Python object. At the end every place between the first
and the last event must be filled, each `prev` must be its predecessor's link, and every signed checkpoint must
name a link the log has.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from services.audit.domain.records import Finding, Findings, Record
from shared import chain

PREFIX = 16
MAX_JUMP = 10_000_000  # a seq this far past everything seen is a forgery, not a gap to allocate memory for


@dataclass
class ServiceChain:
    links: bytearray = field(default_factory=bytearray)
    prevs: bytearray = field(default_factory=bytearray)
    places: array[int] = field(default_factory=lambda: array("q"))  # (topic-partition index << 40) | offset, -1 unseen
    highest: int = 0

    def grow(self, seq: int) -> None:
        missing = seq - len(self.places)
        if missing > 0:
            self.links.extend(bytes(PREFIX * missing))
            self.prevs.extend(bytes(PREFIX * missing))
            self.places.extend([-1] * missing)

    def link_at(self, seq: int) -> bytes:
        return bytes(self.links[(seq - 1) * PREFIX : seq * PREFIX])

    def prev_at(self, seq: int) -> bytes:
        return bytes(self.prevs[(seq - 1) * PREFIX : seq * PREFIX])

    def seen(self, seq: int) -> bool:
        return 0 < seq <= len(self.places) and self.places[seq - 1] >= 0


@dataclass
class ChainCheck:
    findings: Findings
    allow_unchained: bool = False
    only: frozenset[str] | None = None  # the chains audited; None: all
    chains: dict[str, ServiceChain] = field(default_factory=dict)
    places: list[str] = field(default_factory=list)  # topic-partition index -> "topic[partition]"
    _place_index: dict[tuple[str, int], int] = field(default_factory=dict)
    _last_in_partition: dict[tuple[str, int], int] = field(default_factory=dict)  # (service, place) -> last seq
    republished: int = 0
    unchained: int = 0
    checked: int = 0
    # Where a record whose bytes its link does not commit to is reported: `findings` unless another sink is given
    # (verify --workers: each worker checks the bytes of its own records, and reports them, whichever keeps the chain).
    altered_to: Findings | None = None

    def feed(self, record: Record, *, check_bytes: bool = True) -> bool:
        """Check `record`; False when the domain checks must skip it: a republished copy of an event already seen
        (every consumer's inbox drops it too), or a record the chain does not vouch for (no link, unless older
        history without links is allowed; an unreadable link; bytes its link does not commit to): it is a finding
        already. What the events after it then fail to find (a ticket, an entry) is reported too.

        `check_bytes=False`: the record's place in its chain only; another worker checks (and reports) its bytes."""
        try:
            found = chain.link_from_headers(record.headers)
        except chain.MalformedLink as exc:
            self._find("malformed_link", record.where, str(exc))
            return False
        if self.only is not None and (found is None or found.service not in self.only):
            return False  # another producer's record (or no producer's): outside this audit
        if found is None:
            self.unchained += 1
            if not self.allow_unchained:
                self._find("unchained", record.where, "the record carries no chain link: not published by the relay")
            return self.allow_unchained
        self.checked += 1
        altered = check_bytes and not _commits(found, record)
        if altered:
            detail = f"{found.service} #{found.seq}: its topic, key or bytes are not the ones its link commits to"
            sink = self.findings if self.altered_to is None else self.altered_to  # (an empty Findings is falsy)
            sink.add(Finding("chain", "altered", record.where, detail))
        service = self.chains.setdefault(found.service, ServiceChain())
        if found.seq < 1 or found.seq > service.highest + MAX_JUMP:
            self._find("implausible_seq", record.where, f"{found.service} #{found.seq}")
            return True
        place = self._place(record)
        if service.seen(found.seq):
            if service.link_at(found.seq) == found.link[:PREFIX]:
                self.republished += 1  # a relay restart sent it again: same bytes, same link
                return False
            first = self.where(service, found.seq)
            detail = f"{found.service} #{found.seq} is also at {first} with a different link: a forged event"
            self._find("conflict", record.where, detail)
            return True
        last = self._last_in_partition.get((found.service, place), 0)
        if found.seq < last:
            detail = f"{found.service} #{found.seq} comes after #{last} in its partition: events were reordered"
            self._find("reordered", record.where, detail)
        self._last_in_partition[(found.service, place)] = max(last, found.seq)
        service.grow(found.seq)
        at = (found.seq - 1) * PREFIX
        service.links[at : at + PREFIX] = found.link[:PREFIX]
        service.prevs[at : at + PREFIX] = found.prev[:PREFIX]
        service.places[found.seq - 1] = (place << 40) | record.offset
        service.highest = max(service.highest, found.seq)
        return not altered

    def note(self, record: Record) -> None:
        """A record another worker checks (verify --workers): only its place in its chain is noted, so that what
        counts as an implausible jump (`MAX_JUMP`) is judged against the whole chain seen so far, as in one process."""
        try:
            found = chain.link_from_headers(record.headers)
        except chain.MalformedLink:
            return
        if found is None or (self.only is not None and found.service not in self.only):
            return
        service = self.chains.setdefault(found.service, ServiceChain())
        if 1 <= found.seq <= service.highest + MAX_JUMP:
            service.highest = max(service.highest, found.seq)

    def finish(
        self, checkpoints: Iterable[tuple[Record, chain.Checkpoint]], keys: dict[str, Ed25519PublicKey], start: int = 1
    ) -> dict[str, int]:
        """Gaps, broken links and checkpoints; `start`: the first seq expected, 0 when the read started at a time
        (the chain is then checked from its first event read). Returns, per service, the highest seq a valid
        checkpoint signs."""
        for name, service in sorted(self.chains.items()):
            self._continuity(name, service, start)
        signed: dict[str, int] = {}
        for record, checkpoint in checkpoints:
            if self.only is not None and checkpoint.service not in self.only:
                continue
            if self._checkpoint(record, checkpoint, keys):
                signed[checkpoint.service] = max(signed.get(checkpoint.service, 0), checkpoint.seq)
        return signed

    def where(self, service: ServiceChain, seq: int) -> str:
        packed = service.places[seq - 1]
        return f"{self.places[packed >> 40]}@{packed & ((1 << 40) - 1)}"

    def _continuity(self, name: str, service: ServiceChain, start: int) -> None:
        gap_from = None
        first = start
        if start == 0:  # a read from a point in time: the chain is checked from the first event seen on
            first = next((s for s in range(1, service.highest + 1) if service.seen(s)), service.highest + 1)
        if _unbroken(name, service, max(first, 1)):
            return  # the usual case, checked whole; the loop below says where and how a chain is broken
        for seq in range(first, service.highest + 1):
            if not service.seen(seq):
                gap_from = seq if gap_from is None else gap_from
                continue
            if gap_from is not None:
                before = f" after {self.where(service, gap_from - 1)}" if service.seen(gap_from - 1) else ""
                detail = f"{name} #{gap_from}..#{seq - 1} are missing{before}: events were removed"
                self._find("removed", self.where(service, seq), detail)
                gap_from = None
            elif seq > first and service.prev_at(seq) != service.link_at(seq - 1):
                detail = (
                    f"{name} #{seq} does not follow #{seq - 1} at {self.where(service, seq - 1)}: an event was"
                    " inserted, replaced or rewritten with its link"
                )
                self._find("broken_link", self.where(service, seq), detail)
            elif seq == 1 and service.prev_at(1) != chain.genesis(name)[:PREFIX]:
                self._find("broken_link", self.where(service, 1), f"{name} #1 does not start the chain")

    def _checkpoint(self, record: Record, checkpoint: chain.Checkpoint, keys: dict[str, Ed25519PublicKey]) -> bool:
        name = checkpoint.service
        if not checkpoint.verifies(keys):
            known = checkpoint.key_id in keys
            why = "its signature is not by that key" if known else f"no published key has id {checkpoint.key_id!r}"
            self._find("bad_checkpoint", record.where, f"{name} #{checkpoint.seq}: {why}")
            return False
        service = self.chains.get(name, ServiceChain())
        if checkpoint.seq > service.highest:
            detail = (
                f"{name} #{service.highest + 1}..#{checkpoint.seq} are missing, yet signed on"
                f" {checkpoint.at.isoformat()}: the log was truncated"
            )
            self._find("truncated", record.where, detail)
        elif service.seen(checkpoint.seq) and service.link_at(checkpoint.seq) != checkpoint.link[:PREFIX]:
            detail = f"{name} #{checkpoint.seq} at {self.where(service, checkpoint.seq)} is not the event signed"
            self._find("checkpoint_mismatch", record.where, detail)
        return True

    def _place(self, record: Record) -> int:
        key = (record.topic, record.partition)
        index = self._place_index.get(key)
        if index is None:
            index = self._place_index[key] = len(self.places)
            self.places.append(f"{record.topic}[{record.partition}]")
        return index

    def _find(self, kind: str, where: str, detail: str) -> None:
        self.findings.add(Finding("chain", kind, where, detail))


def _commits(found: chain.Link, record: Record) -> bool:
    """The link commits to the record's topic, key and bytes."""
    key = (record.key or b"").decode(errors="replace")
    return chain.link(found.prev, found.seq, chain.event_hash(record.topic, key, record.value)) == found.link


def _unbroken(name: str, service: ServiceChain, first: int) -> bool:
    """Every event from `first` to the highest seen, each `prev` its predecessor's link, the first event of the
    chain after its genesis: the same checks as `_continuity`'s loop, over the flat arrays at once, in C. The loop
    took 60 ms at the end of a 109,000-record replay (10,000 orders), this 4 ms: the end of a run waits for it."""
    last = service.highest
    if first > last:
        return True
    try:  # (no slices: at the end of a million events a copy of the arrays would be tens of MB more at the peak)
        service.places.index(-1, first - 1, last)
        return False
    except ValueError:
        pass  # every event from first to last is there
    with memoryview(service.prevs) as prevs, memoryview(service.links) as links:  # released: the arrays may grow
        if prevs[first * PREFIX : last * PREFIX] != links[(first - 1) * PREFIX : (last - 1) * PREFIX]:
            return False
    return first != 1 or service.prev_at(1) == chain.genesis(name)[:PREFIX]
