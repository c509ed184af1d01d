"""When a write-off or a refund may still be cancelled: until the end of its own Asia/Taipei business day.

Why this window keeps the money side consistent:
- Settlement cuts payouts per business day. Until the day ends, the write-off's release to the merchant (or the
  refund's payment to the consumer and fee to the merchant) is only a ledger entry; a cancel on the same day
  reverses the entry before any money leaves. Never after the day: once paid out, a reversal would be a claw-back
  from a later payout, which can fail (merchant with no later sales) and cannot be reversed for a consumer.
- The escrow period ends at the end of a business day, so a cancel falls on the same side of the escrow end as
  the act it cancels: `within_escrow` of WriteOffCancelled / RefundCancelled always equals that of the original,
  and no reversal can straddle an escrow release. The same holds for a gift voucher's ExpireDate (end of a day).
- A refund itself requires the escrow period, so a refund can never be cancelled into a voucher whose escrow
  money was already released.
The same rule for both, and for both ticket types (gift vouchers move no money, but one rule is easier to state,
test and explain to a POS operator).
"""

from __future__ import annotations

from datetime import datetime

from shared.clock import business_date


def cancel_window_open(done_at: datetime, now: datetime) -> bool:
    """True while `now` is on the same Asia/Taipei business day as `done_at` (and not before it)."""
    return done_at <= now and business_date(done_at) == business_date(now)


def cancel_window_reason(what: str, done_at: datetime | None) -> str:
    if done_at is None:
        return f"nothing to cancel: the ticket has no current {what}"
    return f"a {what} can only be cancelled on its own business day ({business_date(done_at)} Asia/Taipei)"
