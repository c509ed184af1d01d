"""Derived journal entries waiting for settlement's record of them: entry id -> digest, both 16 bytes (pure).

Settlement's topic is read last, so every entry the replay derives waits here until then: about five an order, half a
million for a million events. In a dict each cost some 145 bytes (two bytes objects and a slot, 66 MB at that size);
here, an open-addressing table in two bytearrays, 33 bytes a slot, half to two thirds full: 50 to 66 bytes an entry.
"""

from __future__ import annotations

from collections.abc import Iterator

ID = 16
DIGEST = 16
SLOT = ID + DIGEST
_EMPTY, _LIVE, _TAKEN = 0, 1, 2  # a taken slot still lengthens the probe sequences that ran through it
_FIRST = 1024


class Digests:
    def __init__(self) -> None:
        self._reset(_FIRST)

    def put(self, entry_id: bytes, digest: bytes) -> None:
        """Keeps `digest` for `entry_id` (in place of one kept before)."""
        at = self._find(entry_id)
        if self._state[at] != _LIVE:
            if self._state[at] == _EMPTY:
                self._filled += 1
            self._state[at] = _LIVE
            self._live += 1
        self._slots[at * SLOT : (at + 1) * SLOT] = entry_id + digest
        if self._filled * 3 > len(self._state) * 2:
            self._rehash()

    def pop(self, entry_id: bytes) -> bytes | None:
        """The digest kept for `entry_id`, no longer kept; None when none is."""
        at = self._find(entry_id)
        if self._state[at] != _LIVE:
            return None
        self._state[at] = _TAKEN
        self._live -= 1
        digest = bytes(self._slots[at * SLOT + ID : (at + 1) * SLOT])
        if self._live * 8 < len(self._state) > _FIRST:
            self._rehash()  # settlement's records empty it: its room goes to the end-of-log checks
        return digest

    def __len__(self) -> int:
        return self._live

    def __iter__(self) -> Iterator[bytes]:
        """The entry ids kept, in no particular order."""
        for at, state in enumerate(self._state):
            if state == _LIVE:
                yield bytes(self._slots[at * SLOT : at * SLOT + ID])

    def _find(self, entry_id: bytes) -> int:
        """The slot holding `entry_id`, else where it would go (the first taken slot on its way, or the empty one
        that ends it). Python's own hash: seeded per process, so ids chosen to collide cannot slow the replay."""
        if len(entry_id) != ID:
            raise ValueError(f"an entry id is {ID} bytes, not {len(entry_id)}")
        size = len(self._state)
        at = hash(entry_id) % size
        reusable = None
        while (state := self._state[at]) != _EMPTY:
            if state == _LIVE:
                if self._slots[at * SLOT : at * SLOT + ID] == entry_id:
                    return at
            elif reusable is None:
                reusable = at
            at = (at + 1) % size
        return at if reusable is None else reusable

    def _reset(self, size: int) -> None:
        self._slots = bytearray(size * SLOT)
        self._state = bytearray(size)
        self._live = 0
        self._filled = 0  # live and taken: what the probes walk through

    def _rehash(self) -> None:
        """Into a table twice the size of what is live, taken slots dropped: half full."""
        old, state = self._slots, self._state
        self._reset(max(_FIRST, 2 * self._live))
        for at in range(len(state)):
            if state[at] == _LIVE:
                self.put(bytes(old[at * SLOT : at * SLOT + ID]), bytes(old[at * SLOT + ID : (at + 1) * SLOT]))

    # A resumed run is another process, with another hash seed: the checkpoint keeps the live pairs only, and
    # loading places them anew.
    def __getstate__(self) -> bytes:
        return b"".join(
            self._slots[at * SLOT : (at + 1) * SLOT] for at, state in enumerate(self._state) if state == _LIVE
        )

    def __setstate__(self, pairs: bytes) -> None:
        self._reset(_FIRST)
        for at in range(0, len(pairs), SLOT):
            self.put(pairs[at : at + ID], pairs[at + ID : at + SLOT])
