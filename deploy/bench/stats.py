"""The benchmarks' one statistic, apart from their plumbing so that the speed probe's child can import it lightly."""

from __future__ import annotations


def percentile(values: list[float], q: float) -> float:
    """The value at share `q` of the sorted values (nearest rank, from below); NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
