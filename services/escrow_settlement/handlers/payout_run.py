"""The payout run for one business day: per merchant, what is due as of the day's end -> plan (the core) ->
the Sent facts posted and the instructions put in the outbox, in one transaction per merchant.

Crash safety: a merchant whose transaction committed has its money in transit, so a rerun finds nothing due for
it; a merchant whose transaction did not commit is planned again from the same balances and history, so it gets
the same attempt numbers and therefore the same instruction ids. No instruction goes out twice under two ids.
A merchant with a quarantined subject gets nothing until operations release it (an alert says so). The money of an
order whose payment the bank's statement has not matched stays back (a notice per order; domain/reconciliation.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from services.escrow_settlement import outbound
from services.escrow_settlement.domain.accounts import AccountKind, OrderRef
from services.escrow_settlement.domain.facts import PayoutSent, TransferSent
from services.escrow_settlement.domain.payouts import PayoutPolicy, plan
from services.escrow_settlement.domain.reconciliation import ReconciliationKind
from services.escrow_settlement.domain.state import LedgerState, OrderBook
from services.escrow_settlement.handlers.ledger import Ledger
from services.escrow_settlement.outbound import AlertRow
from services.escrow_settlement.store import books, notices, payouts, reconciliation
from shared.contracts.events import Outgoing
from shared.contracts.settlement import AlertSeverity
from shared.infra import outbox

WITHHELD = "payout_withheld_quarantine"


@dataclass
class PayoutRun:
    pool: asyncpg.Pool
    schema: str
    ledger: Ledger
    policy: PayoutPolicy

    async def run(self, day: date, only: Sequence[str] | None = None) -> dict[str, Any]:
        """Settle every merchant (or `only` these) for `day`; returns counts and amounts for the run record."""
        async with self.pool.acquire() as conn:
            merchants = await payouts.merchants_with_accounts(conn)
        if only is not None:
            wanted = set(only)
            merchants = [m for m in merchants if m in wanted]
        totals: Counter[str] = Counter()
        for merchant_id in merchants:
            async with self.pool.acquire() as conn, conn.transaction():
                totals.update(await self.settle_merchant(conn, merchant_id, day))
        return {"business_date": day.isoformat(), "merchants": len(merchants), **totals}

    async def settle_merchant(self, conn: asyncpg.Connection, merchant_id: str, day: date) -> Counter[str]:
        await books.lock(conn, [books.transfer_lock(merchant_id)])
        now, cause = self.ledger.clock.now(), f"payout-run/{merchant_id}/{day.isoformat()}"
        if stopped := await payouts.quarantined_subjects(conn, merchant_id):
            detail = f"nothing instructed for {day}: quarantined {', '.join(stopped)}"
            await self._alert(conn, cause, WITHHELD, merchant_id, merchant_id, detail, AlertSeverity.CRITICAL)
            return Counter(withheld=1)
        balances = await payouts.due_as_of(conn, merchant_id, day)
        orders = {a.owner for a in balances if a.kind is AccountKind.CONSUMER_REFUND_PAYABLE}
        history = await payouts.transfer_history(conn, orders | {merchant_id})
        fresh = {key: OrderBook(OrderRef(*key.split("/", 1))) for key in orders}
        held = await reconciliation.held_orders(conn, merchant_id, day)  # payments the bank has not matched
        planned = plan(LedgerState(orders=fresh, transfers=history, balances=balances), day, self.policy, held)
        sent: list[TransferSent] = [*planned.payouts, *planned.refunds]
        events, posted = await self.ledger.post(conn, sent)
        diverted = {fact.cause_id for _, fact in posted.diverted}
        instructed = [s for s in sent if s.cause_id not in diverted]
        events += [outbound.instructed(s, now) for s in instructed]
        await outbox.append(conn, self.schema, events)
        for alert in planned.alerts:
            await self._alert(conn, cause, alert.kind.value, alert.subject, merchant_id, alert.detail)
        held_back: dict[str, tuple[int, str]] = {}  # per order: its payout part and its refund, one notice
        for kept in planned.held:
            amount, _ = held_back.get(kept.subject, (0, ""))
            held_back[kept.subject] = (amount + kept.amount, kept.reason)
        for order, (amount, reason) in sorted(held_back.items()):
            detail = f"NT${amount} held back from the payout run for {day}: {reason}"
            await self._alert(conn, cause, ReconciliationKind.PAYOUT_HELD.value, order, merchant_id, detail)
        paid = [s for s in instructed if isinstance(s, PayoutSent)]
        refunded = [s for s in instructed if not isinstance(s, PayoutSent)]
        return Counter(
            payouts=len(paid),
            paid_out=sum(s.amount for s in paid),
            refunds=len(refunded),
            refunded=sum(s.amount for s in refunded),
            carried=len(planned.carried),
            held=len(planned.held),
            held_back=sum(k.amount for k in planned.held),
            quarantined=len(diverted),
        )

    async def _alert(
        self,
        conn: asyncpg.Connection,
        cause: str,
        kind: str,
        subject: str,
        merchant_id: str,
        detail: str,
        severity: AlertSeverity = AlertSeverity.NOTICE,
    ) -> None:
        now = self.ledger.clock.now()
        event: Outgoing = outbound.alert_raised(cause, kind, subject, merchant_id, detail, now, severity)
        row = AlertRow(outbound.alert_id(cause, kind, subject), kind, severity, subject, merchant_id, detail, cause)
        await notices.record_alerts(conn, [row], now)
        await outbox.append(conn, self.schema, [event])
