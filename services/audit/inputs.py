"""The archive of signed inputs (ecticket.audit.inputs.v1), checked with the merchants' keys.

Each archived input is read back with the deciding service's own parser (so its message id is the one its
decisions name) and its signature re-verified: a request's CheckMacValue over its decrypted Data with the signer's
ECTicket keys (the platform's keys when a PlatformID acts for the merchant), a payment result's AIO CheckMacValue
with the merchant's payment keys, trying every key set the auditor has for it (keys rotate). Then every issue and
payment decision must name an archived input (its `causation_id`) that verified, and agree with it: the same
merchant, request and order; as many tickets as the request asks for; a confirmed payment equal to what payment
confirmation's own `assess` makes of the signed result.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError

from services.audit.domain.records import Finding, Findings, Record
from services.audit.kept_inputs import PAYMENT, PAYMENT_FACTS, REQUEST, Kept, KeptInputs, Signed
from services.payment_confirmation.domain.aio_fields import parse_aio_time
from services.payment_confirmation.domain.assessment import Refused, assess
from services.payment_confirmation.inbound import parse_payment_result
from shared.contracts.archive import ArchiveKey
from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import Event
from shared.contracts.issuance import IssueAccepted, IssueFailed, TicketsIssued
from shared.contracts.payments import PaymentConfirmed, PaymentRejected, PaymentRejectReason
from shared.contracts.redemption import RedemptionRejected, TicketEvent
from shared.ecticket.aio import verify_aio_check_mac_value
from shared.ecticket.envelope import EnvelopeFailure, RequestEnvelope, open_request
from shared.infra.intake import parse_ingest_request
from shared.infra.messages import Inbound, Unparseable
from shared.merchants.model import Merchant
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS

# What the auditor holds per merchant: every key set it has used (current and rotated out), as Merchants.
MerchantKeys = Mapping[str, Sequence[Merchant]]
# Payment rejections taken before the result's signature verified: not archived (services/payment_confirmation).
UNSIGNED = frozenset({PaymentRejectReason.UNKNOWN_MERCHANT, PaymentRejectReason.BAD_CHECKSUM})


class InputCheck:
    def __init__(
        self, findings: Findings, keys: MerchantKeys, merchant_id: str | None = None, since_ms: int | None = None
    ) -> None:
        self.findings, self.keys, self.merchant_id, self.since_ms = findings, keys, merchant_id, since_ms
        self.inputs = KeptInputs()
        self.archived = self.verified = self.traced = 0

    def on_archived(self, record: Record) -> None:
        self.archived += 1
        try:
            key = ArchiveKey.parse(record.key)
        except ValueError as exc:
            self._find("unreadable", record.where, str(exc))
            return
        if self.merchant_id is not None and key.merchant_id != self.merchant_id:
            return
        inbound = Inbound(key.source, record.partition, record.offset, record.key, record.value, record.timestamp_ms)
        try:
            signed = self._read(key, inbound, record.where)
        except (Unparseable, ValidationError, ValueError) as exc:
            self._find("unreadable", record.where, f"{key}: {str(exc).splitlines()[0]}", key.merchant_id)
            return
        if signed is not None:
            self.verified += signed.verified
            self.inputs.add(key.message_id, record.topic, record.partition, record.offset, signed)

    def on_decision(self, envelope: EventEnvelope, event: Event, where: str) -> None:
        if not _decided_on_signed_input(event):
            return
        at = self.findings.current_ms
        if self.since_ms is not None and at is not None and at < self.since_ms:
            return  # before the archive existed (--inputs-since)
        merchant = getattr(event, "merchant_id", None)
        cause = _uuid(envelope.causation_id)
        signed = None if cause is None else self.inputs.get(cause)
        if signed is None:
            detail = f"{envelope.event_type} of {envelope.key} names input {envelope.causation_id}: not in the archive"
            self._find("missing", where, detail, merchant)
            return
        self.traced += 1
        if not signed.verified:
            detail = (
                f"{envelope.event_type} was decided on the input at {signed.where}, whose signature does not verify"
            )
            self._find("unverified_decision", where, detail, merchant)
            return
        for name, recorded in _differences(event, signed):
            detail = f"{envelope.event_type} says {name} {recorded!r}; its signed {signed.kind} at {signed.where} "
            self._find("differs", where, detail + "says otherwise", merchant)

    def _read(self, key: ArchiveKey, inbound: Inbound, where: str) -> Signed | None:
        """The input as its service read it (its own parser: the same message id), its signature verified."""
        if key.source.startswith(INGEST_REQUESTS):
            parsed = parse_ingest_request(inbound)
            _same_id(key, parsed.message_id)
            return self._request(key, parsed.body.request_id, parsed.body.envelope, where)
        if key.source.startswith(INGEST_PAYMENTS):
            parsed_payment = parse_payment_result(inbound)
            _same_id(key, parsed_payment.message_id)
            return self._payment(key, parsed_payment.body.fields, inbound.timestamp_ms, where)
        raise ValueError(f"{key.source} is not an ingestion topic whose inputs are archived")

    def _request(self, key: ArchiveKey, request_id: str, raw: dict[str, object], where: str) -> Signed | None:
        envelope = RequestEnvelope.model_validate(raw)
        if envelope.merchant_id != key.merchant_id:
            raise ValueError(f"its MerchantID {envelope.merchant_id} is not the key's {key.merchant_id}")
        platform = envelope.platform_id
        signer = platform if platform and platform != envelope.merchant_id else envelope.merchant_id
        key_sets = self.keys.get(signer, ())
        if not key_sets:
            self._find("no_keys", where, f"request {request_id!r}: no keys of {signer} to verify it", key.merchant_id)
            return None
        failure = ""
        for keys in key_sets:
            secrets = keys.secrets
            opened = open_request(envelope, secrets.ticket_hash_key.get_secret_value(),
                                  secrets.ticket_hash_iv.get_secret_value(), envelope.rq_header.timestamp)  # fmt: skip
            if not isinstance(opened, EnvelopeFailure):
                data = opened.data
                lines = data.get("TicketInfo")
                count = sum(_int(line.get("TicketAmount")) for line in lines if isinstance(line, dict)) if isinstance(
                    lines, list) else 0  # fmt: skip
                trade_no = data.get("MerchantTradeNo") or data.get("FreeTradeNo")
                facts = (data.get("MerchantID"), request_id, data.get("IssueType"), trade_no, count)
                return Signed(REQUEST, True, facts)
            failure = opened.message
        detail = (
            f"request {request_id!r} of {key.merchant_id}: {failure} (tried {len(key_sets)} key set(s) of {signer})"
        )
        self._find("bad_signature", where, detail, key.merchant_id)
        return Signed(REQUEST, False)

    def _payment(self, key: ArchiveKey, fields: dict[str, str], timestamp_ms: int, where: str) -> Signed | None:
        order = f"{fields['MerchantID']}/{fields['MerchantTradeNo']}"
        if fields["MerchantID"] != key.merchant_id:
            raise ValueError(f"its MerchantID {fields['MerchantID']} is not the key's {key.merchant_id}")
        key_sets = self.keys.get(key.merchant_id, ())
        if not key_sets:
            self._find("no_keys", where, f"payment result of {order}: no keys of {key.merchant_id}", key.merchant_id)
            return None
        for keys in key_sets:
            secrets = keys.secrets
            if verify_aio_check_mac_value(fields, secrets.payment_hash_key.get_secret_value(),
                                          secrets.payment_hash_iv.get_secret_value()):  # fmt: skip
                return Signed(PAYMENT, True, _claim(fields, keys, timestamp_ms))
        detail = f"payment result of {order}: CheckMacValue does not match any of its {len(key_sets)} key set(s)"
        self._find("bad_signature", where, detail, key.merchant_id)
        return Signed(PAYMENT, False)

    def _find(self, kind: str, where: str, detail: str, merchant_id: str | None = None) -> None:
        self.findings.add(Finding("inputs", kind, where, detail, merchant_id))


def _decided_on_signed_input(event: Event) -> bool:
    if isinstance(event, IssueAccepted | TicketsIssued | RedemptionRejected):
        return True
    if isinstance(event, TicketEvent):
        return event.request_id is not None  # None: time decided it (an expiry)
    if isinstance(event, IssueFailed):
        return event.request_id != ""  # "" : a payment nobody claimed; no request behind it
    if isinstance(event, PaymentConfirmed):
        return True
    return isinstance(event, PaymentRejected) and event.reason not in UNSIGNED


def _claim(fields: dict[str, str], keys: Merchant, timestamp_ms: int) -> tuple[object, ...]:
    """What payment confirmation's own `assess` makes of the verified result (PAYMENT_FACTS). Its date window is
    judged at the payment date itself (the service judged it at the merchant's clock, which a sandbox test clock
    may shift)."""
    try:
        now = parse_aio_time(fields.get("PaymentDate", ""))
    except ValueError:
        now = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
    claim = assess(fields, keys, now)
    if isinstance(claim, Refused):
        known = {"refused": claim.reason.value, "merchant_trade_no": fields["MerchantTradeNo"],
                 "trade_no": fields.get("TradeNo") or None}  # fmt: skip
        return tuple(known.get(name) for name in PAYMENT_FACTS)
    return (None, *(getattr(claim, name) for name in PAYMENT_FACTS[1:]))


def _differences(event: Event, signed: Kept) -> list[tuple[str, object]]:
    """The facts of `event` that its signed input does not vouch for: (name, the event's value)."""
    recorded: dict[str, object] = {}
    if isinstance(event, IssueAccepted | TicketsIssued | IssueFailed):
        if signed.kind != REQUEST:
            return [("its input", signed.kind)]
        recorded = {"merchant_id": event.merchant_id, "request_id": event.request_id}
        if isinstance(event, IssueAccepted | TicketsIssued):
            recorded |= {"trade_no": event.ticket_trade_no, "issue_type": event.issue_type}
        if isinstance(event, TicketsIssued):
            recorded["tickets"] = len(event.tickets)
    elif isinstance(event, TicketEvent | RedemptionRejected):  # a write-off, a refund, their cancellations
        if signed.kind != REQUEST:
            return [("its input", signed.kind)]
        recorded = {"merchant_id": event.merchant_id, "request_id": event.request_id}
    elif isinstance(event, PaymentConfirmed | PaymentRejected):
        if signed.kind != PAYMENT:
            return [("its input", signed.kind)]
        recorded = {"merchant_trade_no": event.merchant_trade_no, "trade_no": event.trade_no}
        if isinstance(event, PaymentConfirmed):
            if signed.refused is not None:
                return [("confirmed (payment confirmation's assess refuses it: " + signed.refused + ")", True)]
            recorded = {name: getattr(event, name) for name in PAYMENT_FACTS[1:]}
    return [(name, value) for name, value in recorded.items() if not signed.agrees(name, value)]


def _same_id(key: ArchiveKey, actual: uuid.UUID) -> None:
    if actual != key.message_id:
        raise ValueError(f"its bytes are message {actual}, its key says {key.message_id}")


def _uuid(text: str | None) -> uuid.UUID | None:
    try:
        return None if not text else uuid.UUID(text)
    except ValueError:
        return None


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
