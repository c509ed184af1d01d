"""Settlement settings from the environment.

BUSINESS_DAY_CUTOFF (Asia/Taipei "HH:MM", default "00:00"; shared.settings, platform-wide, older name
SETTLEMENT_CUTOFF): an instant at or after it belongs to the next business day. Redemption's cancel window ends at
the same cut-off, so nothing a payout run has instructed can be cancelled afterwards. It must stay fixed for the
life of a ledger: facts' business dates (and so entry dates and statements) are computed with it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import time, timedelta

from services.escrow_settlement.domain.payouts import PayoutPolicy
from shared.settings import business_day_cutoff


def _flag(name: str, default: bool) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class SettlementConfig:
    cutoff: time = time(0)
    max_rejections: int = 3  # bank rejections in a row before a transfer is withheld for operations
    overdue_after: timedelta = timedelta(hours=1)  # an order still waiting for a fact this long is raised
    poll_seconds: float = 1.0  # how often the timers look for due payout runs and overdue orders
    automatic_payouts: bool = True  # run each business day once it has ended
    # Sandbox merchants whose test clock runs ahead: a run of their own when their (shifted) day ends.
    sandbox_payouts: bool = True

    @property
    def policy(self) -> PayoutPolicy:
        return PayoutPolicy(cutoff=self.cutoff, max_rejections=self.max_rejections)

    @classmethod
    def from_env(cls) -> SettlementConfig:
        return cls(
            cutoff=business_day_cutoff(),
            max_rejections=int(os.environ.get("SETTLEMENT_MAX_REJECTIONS", "3")),
            overdue_after=timedelta(seconds=float(os.environ.get("SETTLEMENT_OVERDUE_SECONDS", "3600"))),
            poll_seconds=float(os.environ.get("SETTLEMENT_POLL_SECONDS", "1.0")),
            automatic_payouts=_flag("SETTLEMENT_AUTOMATIC_PAYOUTS", True),
            sandbox_payouts=_flag("SETTLEMENT_SANDBOX_PAYOUTS", _flag("SETTLEMENT_AUTOMATIC_PAYOUTS", True)),
        )
