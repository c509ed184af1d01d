"""When a write-off or a refund may still be cancelled: until the next day boundary after it — the end of its
business day (BUSINESS_DAY_CUTOFF, the same cut-off the payout runs use) or Taipei midnight, whichever comes first.

Why this window keeps the money side consistent:
- Settlement cuts payouts per business day. Until the business day ends, the write-off's release to the merchant
  (or the refund's payment to the consumer and fee to the merchant) is only a ledger entry; a cancel on the same
  business day reverses the entry before any money leaves. Never after: once paid out, a reversal would be a
  claw-back from a later payout, which can fail (merchant with no later sales) and cannot be reversed for a
  consumer. With a cut-off of 18:00, a write-off at 17:00 may be cancelled until 18:00, when that day's payout
  run may start.
- The escrow period ends at the end of a calendar day (Taipei midnight), so a cancel also never crosses midnight:
  it falls on the same side of the escrow end as the act it cancels, `within_escrow` of WriteOffCancelled /
  RefundCancelled always equals that of the original, and no reversal can straddle an escrow release. The same
  holds for a gift voucher's ExpireDate (end of a day). With the default cut-off (midnight) both boundaries are one.
- A refund itself requires the escrow period, so a refund can never be cancelled into a voucher whose escrow
  money was already released.
The same rule for both, and for both ticket types (gift vouchers move no money, but one rule is easier to state,
test and explain to a POS operator).
"""

from __future__ import annotations

from datetime import datetime, time

from shared.clock import MIDNIGHT, TAIPEI, next_day_boundary


def cancel_window_open(done_at: datetime, now: datetime, cutoff: time = MIDNIGHT) -> bool:
    """True from `done_at` until the next day boundary after it (the business-day cut-off or midnight)."""
    return done_at <= now < next_day_boundary(done_at, cutoff)


def cancel_window_reason(what: str, done_at: datetime | None, cutoff: time = MIDNIGHT) -> str:
    if done_at is None:
        return f"nothing to cancel: the ticket has no current {what}"
    until = next_day_boundary(done_at, cutoff).astimezone(TAIPEI)
    return f"a {what} can only be cancelled before the end of its business day ({until:%Y-%m-%d %H:%M} Asia/Taipei)"
