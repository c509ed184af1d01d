"""Per-merchant token buckets (pure: the caller passes the time). ECTicket answers a caller that is too fast with
HTTP 403 (§2.1); so does the gateway, before forwarding anything."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate` requests a second per key, bursts of up to `burst`. Keys are chosen by callers (any MerchantID), so
    at most `max_keys` buckets are kept, least recently used first out: forgetting a bucket refills it, which only
    ever favours the caller it belonged to and never lets memory grow with an attacker's names."""

    def __init__(self, rate: float, burst: float, max_keys: int = 100_000) -> None:
        self.rate, self.burst, self.max_keys = rate, burst, max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        bucket = self._buckets.pop(key, None) or _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def retry_after(self, key: str) -> int:
        """Whole seconds until the key's next request would pass."""
        bucket = self._buckets.get(key)
        missing = 1 - bucket.tokens if bucket is not None else 0
        return max(1, int(missing / self.rate + 0.999))
