"""One attempt to deliver one notification: find its target, check it, seal, POST, judge the answer, and decide
what follows (delivered, retried later, refused, given up). Secrets and bodies never reach the log."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from services.notification.config import NotifyConfig
from services.notification.domain.acks import Acknowledged, acknowledgement
from services.notification.domain.retry import GiveUp, next_try
from services.notification.domain.targets import Refused, check_url
from services.notification.endpoints import Endpoints, Unreachable
from services.notification.outbound import destination, headers, request_body
from services.notification.store.deliveries import Due, Settled
from services.notification.store.log import Attempt
from shared.clock import Clock
from shared.ecticket.authentication import MerchantDirectory

log = logging.getLogger(__name__)


@dataclass
class Attempter:
    clock: Clock
    merchants: MerchantDirectory
    endpoints: Endpoints
    config: NotifyConfig
    jitter: Callable[[], float] = field(default=random.random)

    async def attempt(self, due: Due) -> tuple[Settled, Attempt]:
        started = self.clock.now()
        merchant = self.merchants.get(due.merchant_id)
        if merchant is None:
            return self._refused(due, None, "merchant not registered")
        where = destination(due.kind, due.order, merchant.record)
        if where is None:
            return self._refused(due, None, "no notify URL: neither the Issue request nor the merchant names one")
        signer = merchant if where.platform_id is None else self.merchants.get(where.platform_id)
        if signer is None:
            return self._refused(due, where.url, f"platform {where.platform_id} not registered")
        target = check_url(where.url, merchant.sandbox)
        if isinstance(target, Refused):
            return self._refused(due, where.url, target.reason)
        body = request_body(due.data, due.merchant_id, where.platform_id, signer, int(started.timestamp()))
        answer = await self.endpoints.post(where.url, body, headers(due.notification_id), merchant.sandbox)
        if isinstance(answer, Unreachable):
            if answer.refused:
                return self._refused(due, where.url, answer.detail)
            return self._failed(due, where.url, None, answer.detail, answer.seconds)
        keys = signer.secrets
        verdict = acknowledgement(
            answer.status,
            answer.body,
            merchant.record.notify_ack,
            keys.ticket_hash_key.get_secret_value(),
            keys.ticket_hash_iv.get_secret_value(),
        )
        if isinstance(verdict, Acknowledged):
            now = self.clock.now()
            settled = Settled(due.notification_id, "delivered", now, due.first_attempt_at or now, None, None)
            return settled, self._log(due, where.url, "delivered", answer.status, verdict.how, answer.seconds)
        return self._failed(due, where.url, answer.status, verdict.detail, answer.seconds)

    def _failed(self, due: Due, url: str, status: int | None, detail: str, seconds: float) -> tuple[Settled, Attempt]:
        now = self.clock.now()
        first = due.first_attempt_at or now
        decision = next_try(self.config.retry, due.attempts + 1, first, now, self.jitter())
        if isinstance(decision, GiveUp):
            log.warning("notification %s to %s given up: %s", due.notification_id, due.merchant_id, decision.reason)
            settled = Settled(due.notification_id, "failed", now, first, None, f"{detail}; {decision.reason}")
        else:
            settled = Settled(due.notification_id, "pending", now, first, decision.at, detail)
        return settled, self._log(due, url, "failed", status, detail, seconds)

    def _refused(self, due: Due, url: str | None, reason: str) -> tuple[Settled, Attempt]:
        """Not sent and not retried: the target is forbidden or missing, which only a change of configuration
        mends (then `cli redeliver`)."""
        now = self.clock.now()
        log.warning("notification %s to %s refused: %s", due.notification_id, due.merchant_id, reason)
        settled = Settled(due.notification_id, "refused", now, due.first_attempt_at or now, None, reason)
        return settled, self._log(due, url, "refused", None, reason, 0.0)

    def _log(self, due: Due, url: str | None, outcome: str, status: int | None, detail: str, seconds: float) -> Attempt:
        return Attempt(
            due.notification_id,
            due.merchant_id,
            due.attempts + 1,
            self.clock.now(),
            url,
            outcome,
            status,
            detail[:500],
            round(seconds * 1000),
        )
