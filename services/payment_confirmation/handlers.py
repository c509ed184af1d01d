"""A batch of AIO payment results: refuse those that fail the local checks, queue the rest for the processor.

Nothing here waits on the processor: a result that passes the checks is written to the verifier's queue in the
consumer's transaction (so a crash loses nothing and a redelivery queues nothing twice) and the verifier is woken;
it confirms or rejects the result once the processor answered (timers.PaymentVerifier)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from services.payment_confirmation import outbound
from services.payment_confirmation.domain.assessment import Refused, assess
from services.payment_confirmation.inbound import PaymentResult
from services.payment_confirmation.store import payments, waiting
from shared.contracts.archive import PAYMENT_RESULT, archived
from shared.contracts.events import Outgoing
from shared.contracts.payments import PaymentConfirmed, PaymentRejectReason
from shared.infra.messages import Inbound, Parsed
from shared.infra.service import Runtime

# Refusals before the result's signature verified: nobody vouched for those bytes, so they are not archived (they
# are answered, and expire with the ingestion topic; anyone who reaches the broker could fill a kept-forever topic).
UNSIGNED = frozenset({PaymentRejectReason.UNKNOWN_MERCHANT, PaymentRejectReason.BAD_CHECKSUM})


@dataclass(frozen=True)
class PaymentHandlers:
    runtime: Runtime
    # Set once a batch queued results: the verifier asks the processor about them without waiting for its poll.
    verifier_wake: asyncio.Event

    async def on_payment_results(
        self, conn: asyncpg.Connection, items: Sequence[tuple[Inbound, Parsed[PaymentResult]]]
    ) -> list[Outgoing]:
        runtime = self.runtime
        now = runtime.clock.now()
        queued: list[tuple[uuid.UUID, PaymentConfirmed, dict[str, str]]] = []
        refusals: list[payments.Refusal] = []
        out: list[Outgoing] = []
        for record, parsed in items:
            fields = parsed.body.fields
            merchant_id = fields["MerchantID"]
            # A disabled merchant's payment is still money a consumer paid: it is verified like any other (its keys
            # are known), and issuance, which issues nothing for a disabled merchant, fails the order for good, so
            # settlement refunds it in full. Only a merchant nobody ever registered is refused here.
            merchant = await runtime.merchants.lookup(merchant_id) or runtime.merchants.get(merchant_id)
            # The merchant's own time: a sandbox merchant on a test clock pays at its shifted time.
            claim = assess(fields, merchant, runtime.clock.now(merchant_id))
            if not isinstance(claim, Refused) or claim.reason not in UNSIGNED:
                # Its CheckMacValue verified: kept byte for byte, chained, before its decision (contracts/archive.py).
                out.append(archived(PAYMENT_RESULT, record.topic, record.value, parsed.message_id, merchant_id))
            if isinstance(claim, Refused):
                refusals.append(payments.Refusal(fields, claim.reason, claim.message))
                out.append(outbound.rejected(fields, claim.reason, claim.message, parsed.message_id, now, now))
            else:
                queued.append((parsed.message_id, claim, fields))
        await payments.add_rejections(conn, refusals, now)
        await waiting.add(conn, queued, now)
        if queued:
            self.verifier_wake.set()
        return out
