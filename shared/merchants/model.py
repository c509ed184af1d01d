"""The merchant configuration record (compacted topic, key = MerchantID) and its unsealed in-memory form."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from cryptography.exceptions import InvalidTag
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.common import RefundFeeRule
from shared.merchants.sealing import MerchantSecrets, SealedSecrets, unseal

MerchantIdStr = Annotated[str, Field(min_length=1, max_length=10, pattern=r"^[A-Za-z0-9]+$")]


class Mode(StrEnum):
    SANDBOX = "sandbox"
    PRODUCTION = "production"


class IssueReply(StrEnum):
    """What the one reply to an Issue request says (docs/decisions.md, "Issue replies")."""

    ACCEPTED = "accepted"  # as ECTicket: at once, Status 3 (data accepted); the outcome via QueryIssueResult
    OUTCOME = "outcome"  # opt-in: when the order is decided, with its tickets (Status 1) or its failure (Status 2)


class NotifySchedule(StrEnum):
    """When notifications to the merchant's notify URLs are sent."""

    IMMEDIATE = "immediate"  # within seconds of the event (the platform's default)
    DAILY = "daily"  # ECTicket-compatible: one batch a day


class NotifyAck(StrEnum):
    """What answer from the merchant's endpoint counts as a delivered notification."""

    ENVELOPE = "envelope"  # the ECTicket response envelope whose Data has RtnCode 1
    LENIENT = "lenient"  # also a bare `1|OK` or {"RtnCode": 1}


class MerchantRecord(BaseModel):
    # A record published by newer code may carry fields older processes do not know: during a rolling upgrade they
    # must still read it (with extra="forbid" they skipped such merchants as unreadable until restarted: seen in
    # the chaos run). The tools that write records build them with this model, so a misspelt field never gets out.
    model_config = ConfigDict(frozen=True, extra="ignore")

    merchant_id: MerchantIdStr
    name: str
    mode: Mode
    enabled: bool = True
    # The platform merchant allowed to act for this one (None: only the merchant itself).
    platform_id: MerchantIdStr | None = None
    escrow_days: Annotated[int, Field(ge=1, le=3650)] = 90
    refund_fee_rule: RefundFeeRule = RefundFeeRule()
    refund_notify_url: str | None = None
    use_status_notify_url: str | None = None
    issue_reply: IssueReply = IssueReply.ACCEPTED
    notify_schedule: NotifySchedule = NotifySchedule.IMMEDIATE
    notify_ack: NotifyAck = NotifyAck.ENVELOPE
    # ECTicket's "merchant prints paper tickets" feature: only such merchants get QueryPrintData answered.
    prints_paper: bool = False
    # The broker's produce quota for the merchant's own Kafka producer (client id ecticket-merchant-<MerchantID>,
    # shared/infra/quotas.py): 2 MiB/s is about 2,000 requests/s, more than the platform drains today, so it binds
    # only a merchant that floods. At most 1 TiB/s, far above any broker's network: the broker keeps the rate as a LONG
    # and refuses more (the fuzz campaign found a record published with 10**30 whose quota the broker then refused).
    produce_bytes_per_second: Annotated[int, Field(ge=1024, le=1 << 40)] = 2 * 1024 * 1024
    # Its share of the broker's request-handling time (Kafka's request_percentage: 100 is one network or I/O thread's
    # whole time), which bounds a flood of small requests the byte rate lets through. 10 % of a thread is far above
    # what 2,000 requests a second cost a broker here.
    request_percentage: Annotated[float, Field(gt=0, le=1000)] = 10.0
    secrets: SealedSecrets
    # A HashKey/HashIV rotation: the keys before it, still accepted until `previous_secrets_until` so the merchant's
    # systems can switch over without a moment where their requests fail (`merchant rotate-keys`).
    previous_secrets: SealedSecrets | None = None
    previous_secrets_until: AwareDatetime | None = None
    updated_at: AwareDatetime


@dataclass(frozen=True)
class Merchant:
    record: MerchantRecord
    secrets: MerchantSecrets
    previous_secrets: MerchantSecrets | None = None  # while a key rotation's overlap lasts

    def with_previous_keys(self, now: datetime) -> Merchant | None:
        """This merchant answering with its keys before the rotation, if they are still accepted at `now`."""
        until = self.record.previous_secrets_until
        if self.previous_secrets is None or until is None or now >= until:
            return None
        return replace(self, secrets=self.previous_secrets, previous_secrets=None)

    @property
    def merchant_id(self) -> str:
        return self.record.merchant_id

    @property
    def sandbox(self) -> bool:
        return self.record.mode is Mode.SANDBOX

    def __repr__(self) -> str:  # secrets are SecretStr already; keep the repr short as well
        return f"Merchant({self.merchant_id}, {self.record.mode})"


def merchant_parser(config_key_hex: str, *previous_keys_hex: str) -> Callable[[bytes], Merchant]:
    def parse(raw: bytes) -> Merchant:
        record = MerchantRecord.model_validate_json(raw)
        try:
            secrets = unseal(record.secrets, record.merchant_id, config_key_hex, *previous_keys_hex)
            old = record.previous_secrets
            previous = unseal(old, record.merchant_id, config_key_hex, *previous_keys_hex) if old else None
        except InvalidTag as exc:
            raise ValueError(f"merchant {record.merchant_id}: secrets sealed under another config key") from exc
        return Merchant(record, secrets, previous)

    return parse
