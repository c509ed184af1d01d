"""The one place ECTicket requests are authenticated and authorised, against the merchants a service knows."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from shared.contracts.rtncodes import RtnCode, message
from shared.ecticket.envelope import EnvelopeFailure, EnvelopeFailureReason, OpenedData, RequestEnvelope, open_request
from shared.merchants.model import Merchant
from shared.topics import sender_of

FAILURE_CODES = {
    EnvelopeFailureReason.TIMESTAMP_OUT_OF_WINDOW: RtnCode.TIMESTAMP_OUT_OF_WINDOW,
    EnvelopeFailureReason.DECRYPT_FAILED: RtnCode.DATA_DECRYPT_FAILED,
    EnvelopeFailureReason.CHECKMAC_MISMATCH: RtnCode.CHECKMAC_MISMATCH,
    EnvelopeFailureReason.DATA_NOT_JSON: RtnCode.DATA_INVALID,
    EnvelopeFailureReason.DATA_NOT_OBJECT: RtnCode.DATA_INVALID,
}
# Failures of the Data's content, found after its checksum verified the caller: a business refusal (RtnCode 1001
# inside Data, TransCode 1), not an envelope failure (docs/rtncodes.md).
DATA_FAILURES = frozenset({EnvelopeFailureReason.DATA_NOT_JSON, EnvelopeFailureReason.DATA_NOT_OBJECT})
# What a request sealed with other keys than the merchant's current ones fails with.
WRONG_KEYS = frozenset({EnvelopeFailureReason.DECRYPT_FAILED, EnvelopeFailureReason.CHECKMAC_MISMATCH})


@dataclass(frozen=True)
class Caller:
    """An authenticated, authorised request: who it is for, whose keys sealed it, and the verified Data."""

    merchant: Merchant
    signer: Merchant
    platform_id: str | None
    data: dict[str, Any]
    door: str | None = None  # the sender whose own topic the request came on (its reply goes to the sender's)

    @property
    def merchant_id(self) -> str:
        return self.merchant.merchant_id


@dataclass(frozen=True)
class Refusal:
    code: RtnCode
    detail: str
    merchant_id: str
    platform_id: str | None
    signer: Merchant | None  # known: the reply Data can be encrypted for the caller
    envelope_level: bool  # True: TransCode carries the code (the envelope itself failed)
    door: str | None = None  # as Caller's


class MerchantSource(Protocol):
    """Where merchants come from: each service's in-memory copy of the merchant topic (`infra.compacted`)."""

    def get(self, key: str) -> Merchant | None: ...

    async def lookup(self, key: str) -> Merchant | None: ...


class MerchantDirectory:
    def __init__(self, view: MerchantSource) -> None:
        self.view = view

    def get(self, merchant_id: str) -> Merchant | None:
        """The merchant as last seen, enabled or not (a reply to a request already accepted is still sealed)."""
        return self.view.get(merchant_id)

    async def lookup(self, merchant_id: str) -> Merchant | None:
        merchant = await self.view.lookup(merchant_id)
        return merchant if merchant is not None and merchant.record.enabled else None

    async def authenticate(self, raw_envelope: dict[str, Any], now_unix: int, *, topic: str) -> Caller | Refusal:
        """`topic` is where the request was read: on a sender's own topic it must be that sender's, and the answer
        goes back to that sender's own reply topic."""
        door = sender_of(topic)
        return replace(await self._authenticate(raw_envelope, now_unix, door), door=door)

    async def _authenticate(self, raw_envelope: dict[str, Any], now_unix: int, door: str | None) -> Caller | Refusal:
        try:
            envelope = RequestEnvelope.model_validate(raw_envelope)
        except ValidationError as exc:
            merchant_id = raw_envelope.get("MerchantID")
            name = merchant_id if isinstance(merchant_id, str) else ""
            return Refusal(RtnCode.ENVELOPE_MALFORMED, _first_error(exc), name, None, None, True)
        platform_id = envelope.platform_id or None
        acting_platform = platform_id if platform_id not in (None, envelope.merchant_id) else None
        if door is not None and door != (acting_platform or envelope.merchant_id):
            # Before any lookup or key: whoever wrote here is the topic's owner (the broker's ACLs say so), and the
            # answer must not tell the owner whether the merchant it names exists or what its keys open.
            detail = f"this topic is sender {door}'s own: a request on it must come from {door}"
            return Refusal(RtnCode.PLATFORM_NOT_AUTHORISED, detail, envelope.merchant_id, platform_id, None, True)
        merchant = await self.lookup(envelope.merchant_id)
        if merchant is None:
            return Refusal(
                RtnCode.MERCHANT_UNKNOWN,
                message(RtnCode.MERCHANT_UNKNOWN),
                envelope.merchant_id,
                platform_id,
                None,
                True,
            )
        # A platform seals requests for its sub-merchants with its own keys (ECPay's PlatformID rule).
        signer = await self.lookup(acting_platform) if acting_platform else merchant
        if signer is None:
            return Refusal(
                RtnCode.MERCHANT_UNKNOWN, "PlatformID is not registered", envelope.merchant_id, platform_id, None, True
            )
        opened = _open(envelope, signer, now_unix)
        if isinstance(opened, EnvelopeFailure) and opened.reason in WRONG_KEYS:
            # During a key rotation's overlap the keys before it still open requests; the reply is then sealed
            # with the keys the request used, which are the ones the merchant's system can read.
            previous = signer.with_previous_keys(datetime.fromtimestamp(now_unix, UTC))
            if previous is not None and not isinstance(again := _open(envelope, previous, now_unix), EnvelopeFailure):
                signer, opened = previous, again
                merchant = previous if merchant.merchant_id == previous.merchant_id else merchant
        if isinstance(opened, EnvelopeFailure):
            # Data that decrypted and verified was received and decoded: TransCode 1, the 1001 goes inside Data.
            envelope_level = opened.reason not in DATA_FAILURES
            return Refusal(
                FAILURE_CODES[opened.reason], opened.message, envelope.merchant_id, platform_id, signer, envelope_level
            )
        refusal = _authorise(opened.data, merchant, acting_platform)
        if refusal is not None:
            return Refusal(refusal, message(refusal), envelope.merchant_id, platform_id, signer, False)
        return Caller(merchant=merchant, signer=signer, platform_id=platform_id, data=opened.data)


def _open(envelope: RequestEnvelope, signer: Merchant, now_unix: int) -> OpenedData | EnvelopeFailure:
    keys = signer.secrets
    return open_request(
        envelope, keys.ticket_hash_key.get_secret_value(), keys.ticket_hash_iv.get_secret_value(), now_unix
    )


def _authorise(data: dict[str, Any], merchant: Merchant, acting_platform: str | None) -> RtnCode | None:
    if data.get("MerchantID") != merchant.merchant_id:
        return RtnCode.MERCHANT_MISMATCH
    if acting_platform is not None and merchant.record.platform_id != acting_platform:
        return RtnCode.PLATFORM_NOT_AUTHORISED
    return None


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{where}: {error['msg']}"
