"""Sandbox test clocks (like Stripe's): a merchant's clock may run ahead of real time, in sandbox mode only.

Offsets live on the compacted topic `TEST_CLOCKS` (key MerchantID), written by `python -m shared.admin
clock-advance`. Every service reads them through `SandboxClocks`, which feeds `SystemClock(offsets=...)`, so the
whole platform sees one shifted time per merchant. An offset counts only while the merchant is in sandbox mode:
a record left behind by a merchant that later went to production never moves its clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Protocol, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.infra.compacted import CompactedView
from shared.merchants.model import Merchant, MerchantIdStr

T_co = TypeVar("T_co", covariant=True)


class ClockOffset(BaseModel):
    """How far a sandbox merchant's clock runs ahead of real time (it never runs behind)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    merchant_id: MerchantIdStr
    offset_seconds: Annotated[int, Field(ge=0)]
    updated_at: AwareDatetime

    @property
    def offset(self) -> timedelta:
        return timedelta(seconds=self.offset_seconds)


class Records(Protocol[T_co]):
    """The part of a `CompactedView` this module reads (so tests can pass a dict-backed fake)."""

    def get(self, key: str) -> T_co | None: ...

    def values(self) -> Sequence[T_co]: ...


class SandboxClocks:
    def __init__(self, offsets: Records[ClockOffset], merchants: Records[Merchant]) -> None:
        self._offsets = offsets
        self._merchants = merchants

    def offset(self, merchant_id: str) -> timedelta:
        """The merchant's current offset; zero unless it is a sandbox merchant with a test clock."""
        record = self._offsets.get(merchant_id)
        if record is None or record.offset_seconds == 0:
            return timedelta(0)
        merchant = self._merchants.get(merchant_id)
        return record.offset if merchant is not None and merchant.sandbox else timedelta(0)

    async def stop(self) -> None:
        """Stop tailing the offsets (the merchant view belongs to the merchant directory, which stops it)."""
        if isinstance(self._offsets, CompactedView):
            await self._offsets.stop()

    def shifted(self) -> dict[str, timedelta]:
        """Every merchant whose clock runs ahead right now (few: sandbox merchants that moved their clock)."""
        ahead = {record.merchant_id: self.offset(record.merchant_id) for record in self._offsets.values()}
        return {merchant_id: offset for merchant_id, offset in ahead.items() if offset > timedelta(0)}
