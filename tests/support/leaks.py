"""What a block left unclosed: Kafka clients, sockets, anything that warns when collected while still open."""

from __future__ import annotations

import contextlib
import gc
import warnings
from collections.abc import Iterator


@contextlib.contextmanager
def unclosed() -> Iterator[list[str]]:
    """Fills the list, as the block ends, with the ResourceWarnings of what the block left open, including objects
    it dropped (the garbage is collected first). Outside such a block a leak fails whichever test runs when the
    collector finds it, not the one that leaked (filterwarnings = error)."""
    leaks: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield leaks
        gc.collect()
    leaks.extend(str(w.message) for w in caught if issubclass(w.category, ResourceWarning))
