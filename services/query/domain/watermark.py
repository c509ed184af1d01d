"""Read-your-writes (pure): a query waits until the read model has applied every event that was on the event
topics when the query arrived. Offsets are keyed "topic/partition"; values are next offsets (end offsets)."""

from __future__ import annotations

from collections.abc import Mapping

Offsets = Mapping[str, int]


def reached(watermark: Offsets, applied: Offsets) -> bool:
    """True when every partition of the watermark has been applied up to it."""
    return all(applied.get(partition, 0) >= end for partition, end in watermark.items())
