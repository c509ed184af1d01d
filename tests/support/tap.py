"""The session's tap (shared.sandbox.tap), with waits that look at each record once.

The session's tap keeps every event of the whole run (over 100,000 by its end), and the shared wait scans all of
them every 50 ms: about 20 ms a scan, so a test waiting a few seconds spent close to half a core on it, beside the
services it waits for (and a test waiting for a thousand replies one by one, 45 s). Records are only ever appended,
so a wait that remembers how far it looked finds exactly what a full scan would.

Wait for what you check. The tap reads each topic and partition on its own, so a record seen says nothing of records
on other topics, even those published in the same relay batch: a reply is often read before its event. Before
counting or comparing events, wait for each of them (`wait_for_each`, `wait_for_distinct`; `wait_for(count=N)` can
be filled by a relay's republished copies).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable

from shared.sandbox import tap as shared_tap
from shared.sandbox.tap import Seen


class Tap(shared_tap.Tap):
    async def wait_for(self, predicate: Callable[[Seen], bool], seconds: float = 30, count: int = 1) -> list[Seen]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        found: list[Seen] = []
        looked = 0
        while True:
            end = len(self.seen)
            found += [s for s in self.seen[looked:end] if predicate(s)]
            looked = end
            if len(found) >= count:
                return found
            if loop.time() > deadline:
                raise TimeoutError(f"saw {len(found)} of {count} expected records in {seconds}s")
            await asyncio.sleep(0.05)

    async def wait_for_each(
        self, predicate: Callable[[Seen], bool], key: Callable[[Seen], Hashable], keys: set[Hashable], seconds: float
    ) -> dict[Hashable, list[Seen]]:
        """The records matching `predicate`, by `key`, once every one of `keys` has at least one: many waits in one
        pass (a record whose key is not among `keys` is left out)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        found: dict[Hashable, list[Seen]] = {}
        looked = 0
        while True:
            end = len(self.seen)
            for s in self.seen[looked:end]:
                if predicate(s) and (k := key(s)) in keys:
                    found.setdefault(k, []).append(s)
            looked = end
            if found.keys() >= keys:
                return found
            if loop.time() > deadline:
                missing = len(keys - found.keys())
                raise TimeoutError(f"{missing} of {len(keys)} expected without a record in {seconds}s")
            await asyncio.sleep(0.05)


__all__ = ["Seen", "Tap"]
