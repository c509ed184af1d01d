"""One worker's share of a verification run across several processes (pure): the merchants whose decisions it
re-derives. Every record of a merchant is keyed by the merchant's id or by `merchant/...` (shared/topics.py), so
each merchant's whole history lands in one worker, which replays it as a run over that merchant alone would.

The share is a hash of the merchant id that PostgreSQL computes the same way (`sql`), so each worker reconciles
exactly its own merchants' rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from hashlib import md5


@dataclass(frozen=True)
class Shard:
    index: int
    count: int
    _owned: dict[bytes, bool] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"worker {self.index} of {self.count}")

    @property
    def keeps_chain(self) -> bool:
        """The first worker checks the hash chains and checkpoints of the whole log; the others only theirs."""
        return self.index == 0

    def owns_key(self, key: bytes | None) -> bool:
        """The record's merchant (its key up to the first `/`) is this worker's."""
        merchant = (key or b"").split(b"/", 1)[0]
        owned = self._owned.get(merchant)
        if owned is None:
            owned = self._owned[merchant] = share_of(merchant, self.count) == self.index
        return owned

    def owns(self, merchant_id: str | None) -> bool:
        return merchant_id is not None and share_of(merchant_id.encode(), self.count) == self.index

    def sql(self, column: str) -> str:
        """The same test in SQL, on a text column (NULL: nobody's)."""
        return f"(('x' || substr(md5({column}), 1, 8))::bit(32)::bigint % {self.count}) = {self.index}"


def share_of(merchant: bytes, count: int) -> int:
    return int.from_bytes(md5(merchant, usedforsecurity=False).digest()[:4], "big") % count
