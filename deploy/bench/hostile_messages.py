"""The hostile flood of issue 8, as raw Kafka messages: what an attacker (or a broken merchant system) can put on
both ingestion topics without knowing any key, plus what a known merchant's own keys can sign.

Kinds, in equal shares: unknown merchants, bad checksums for a known merchant, malformed and truncated JSON,
deeply nested JSON, NUL-laden and surrogate-laden messages, and out-of-range values signed with the known
merchant's real keys. Each kind exists for requests (`ecticket.ingest.requests.v1`) and for AIO payment results
(`ecticket.ingest.payments.v1`). JSON is written the way json.dumps writes it, so NULs and lone surrogates travel
as `\\u0000` / `\\ud800` escapes, which is how they reached the services in the issue.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from shared.ecticket.aio import aio_check_mac_value
from shared.ecticket.envelope import seal_request
from shared.sandbox.aio import AIO_IV, AIO_KEY, as_form, payment_result
from shared.sandbox.merchant import KEYS
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS

NESTING = 1200  # levels: the 2.4 KB payment result that crashed payment-confirmation in issue 8
OUT_OF_RANGE_AMOUNTS: tuple[Any, ...] = (True, 2**31, 2**63, 10**30, -1, 0, "1", 1.5)
OUT_OF_RANGE_TRADE_AMTS = ("+500", " 500", "5_00", "٥٠٠", "５００", "99999999999999999999", "-500", "²")
FAR_DATES = ("99991231", "00010101", "20261399")
FAR_PAYMENT_DATES = ("9999/12/31 23:59:59", "0001/01/01 00:00:00")
NEST = "<nested>"  # placeholder, replaced in the serialised message


@dataclass(frozen=True)
class Hostile:
    kind: str
    topic: str
    key: bytes
    value: bytes
    request_id: str | None = None  # how its reply names it, when it is a request with an id
    order: tuple[str, str] | None = None  # MerchantID and MerchantTradeNo, when it is a payment result


@dataclass(frozen=True)
class Flood:
    """Builds the messages; `victim` is a registered merchant whose name (and, for out-of-range values, whose keys)
    the flood uses. Randomness comes from `rng`, so a seed reproduces a flood."""

    victim: str
    rng: random.Random

    def messages(self, count: int) -> list[Hostile]:
        kinds = self.kinds()
        names = sorted(kinds)
        return [kinds[names[i % len(names)]](i) for i in range(count)]

    def kinds(self) -> dict[str, Callable[[int], Hostile]]:
        return {
            "request: unknown merchant": self._unknown_request,
            "request: bad checksum": self._bad_checksum_request,
            "request: malformed or truncated": self._truncated_request,
            "request: nested 1,200 deep": self._nested_request,
            "request: NUL": self._nul_request,
            "request: lone surrogate": self._surrogate_request,
            "request: out-of-range values, signed": self._out_of_range_request,
            "payment: unknown merchant": self._unknown_payment,
            "payment: bad checksum": self._bad_checksum_payment,
            "payment: malformed or truncated": self._truncated_payment,
            "payment: nested 1,200 deep": self._nested_payment,
            "payment: NUL": self._nul_payment,
            "payment: lone surrogate": self._surrogate_payment,
            "payment: out-of-range values, signed": self._out_of_range_payment,
        }

    # Requests ---------------------------------------------------------------------------------------------------

    def _unknown_request(self, i: int) -> Hostile:
        merchant = self._stranger()
        key, iv = self._token(16), self._token(16)
        operation = ("Issue", "WriteOff", "Refund")[i % 3]
        body = self._sealed(operation, self._gift_issue(merchant), merchant, key, iv)
        return self._request("request: unknown merchant", merchant, body)

    def _bad_checksum_request(self, i: int) -> Hostile:
        key, iv = KEYS[self.victim]
        message = self._sealed("Issue", self._gift_issue(self.victim), self.victim, key, iv)
        message["envelope"]["CheckMacValue"] = "".join(self.rng.choice("0123456789ABCDEF") for _ in range(64))
        return self._request("request: bad checksum", self.victim, message)

    def _truncated_request(self, i: int) -> Hostile:
        key, iv = KEYS[self.victim]
        whole = json.dumps(self._sealed("Issue", self._gift_issue(self.victim), self.victim, key, iv)).encode()
        cut = whole[: self.rng.randrange(1, len(whole))] if i % 4 else self.rng.randbytes(200)  # or not UTF-8
        return Hostile("request: malformed or truncated", INGEST_REQUESTS, self.victim.encode(), cut)

    def _nested_request(self, i: int) -> Hostile:
        envelope = {"MerchantID": self.victim, "RqHeader": {"Timestamp": _now()}, "Data": NEST, "CheckMacValue": ""}
        return _nest(i, self._request("request: nested 1,200 deep", self.victim, self._raw("Issue", envelope)))

    def _nul_request(self, i: int) -> Hostile:
        variants = (
            {"request_id": self._id("\x00"), "operation": "Issue", "envelope": {"MerchantID": "\x00"}},
            {"request_id": self._id("\x00"), "operation": "WriteOff", "envelope": {"MerchantID": self.victim}},
            {"request_id": self._id(), "operation": "Issue\x00", "envelope": {"\x00": "x", "MerchantID": "1\x00"}},
        )
        return self._request("request: NUL", self.victim, variants[i % len(variants)])

    def _surrogate_request(self, i: int) -> Hostile:
        variants = (
            {"request_id": self._id(), "operation": "WriteOff", "envelope": {"MerchantID": "\ud800"}},
            {"request_id": self._id("\udfff"), "operation": "Issue", "envelope": {"\ud800": 1}},
            {"request_id": self._id(), "operation": "\ud83d", "envelope": {"MerchantID": self.victim}},
        )
        return self._request("request: lone surrogate", self.victim, variants[i % len(variants)])

    def _out_of_range_request(self, i: int) -> Hostile:
        data = self._gift_issue(self.victim)
        line = data["TicketInfo"][0]
        if i % 2:
            line["TicketAmount"] = OUT_OF_RANGE_AMOUNTS[(i // 2) % len(OUT_OF_RANGE_AMOUNTS)]
        else:
            line["ExpireDate"] = FAR_DATES[(i // 2) % len(FAR_DATES)]
        key, iv = KEYS[self.victim]
        return self._request(
            "request: out-of-range values, signed", self.victim, self._sealed("Issue", data, self.victim, key, iv)
        )

    # Payments ---------------------------------------------------------------------------------------------------

    def _unknown_payment(self, i: int) -> Hostile:
        merchant = self._stranger()
        return self._payment(
            "payment: unknown merchant", merchant, payment_result(merchant, self._id(), 500, paid_at=datetime.now(UTC))
        )

    def _bad_checksum_payment(self, i: int) -> Hostile:
        fields = payment_result(self.victim, self._id(), 500, paid_at=datetime.now(UTC))
        fields["CheckMacValue"] = "".join(self.rng.choice("0123456789ABCDEF") for _ in range(64))
        return self._payment("payment: bad checksum", self.victim, fields)

    def _truncated_payment(self, i: int) -> Hostile:
        fields = payment_result(self.victim, self._id(), 500, paid_at=datetime.now(UTC))
        whole = json.dumps(fields).encode() if i % 2 else as_form(fields)
        cut = whole[: self.rng.randrange(1, len(whole))] if i % 4 else self.rng.randbytes(200)
        return Hostile("payment: malformed or truncated", INGEST_PAYMENTS, self.victim.encode(), cut)

    def _nested_payment(self, i: int) -> Hostile:
        fields: dict[str, Any] = dict(payment_result(self.victim, self._id(), 500, paid_at=datetime.now(UTC)))
        fields["CustomField1"] = NEST
        return _nest(i, self._payment("payment: nested 1,200 deep", self.victim, fields))

    def _nul_payment(self, i: int) -> Hostile:
        fields: dict[str, Any] = dict(payment_result(self.victim, self._id(), 500, paid_at=datetime.now(UTC)))
        variants: tuple[dict[str, Any], ...] = (
            {**fields, "\x00": "x"},
            {**fields, "MerchantID": "\x00"},
            {**fields, "MerchantTradeNo": self._id("\x00")},
        )
        return self._payment("payment: NUL", self.victim, variants[i % len(variants)])

    def _surrogate_payment(self, i: int) -> Hostile:
        fields: dict[str, Any] = dict(payment_result(self.victim, self._id(), 500, paid_at=datetime.now(UTC)))
        variants: tuple[dict[str, Any], ...] = ({**fields, "\ud800": 1}, {**fields, "MerchantID": "\udc00"})
        return self._payment("payment: lone surrogate", self.victim, variants[i % len(variants)])

    def _out_of_range_payment(self, i: int) -> Hostile:
        fields = payment_result(self.victim, self._id(), 500, paid_at=datetime.now(UTC))
        if i % 2:
            fields["TradeAmt"] = OUT_OF_RANGE_TRADE_AMTS[(i // 2) % len(OUT_OF_RANGE_TRADE_AMTS)]
        else:
            fields["PaymentDate"] = FAR_PAYMENT_DATES[(i // 2) % len(FAR_PAYMENT_DATES)]
        del fields["CheckMacValue"]
        fields["CheckMacValue"] = aio_check_mac_value(fields, AIO_KEY, AIO_IV)  # signed: only the values are wrong
        return self._payment("payment: out-of-range values, signed", self.victim, fields)

    # Helpers ----------------------------------------------------------------------------------------------------

    def _request(self, kind: str, merchant: str, message: dict[str, Any]) -> Hostile:
        body = json.dumps(message).encode()
        return Hostile(kind, INGEST_REQUESTS, merchant.encode(), body, request_id=message["request_id"])

    def _payment(self, kind: str, merchant: str, fields: dict[str, Any]) -> Hostile:
        order = (fields["MerchantID"], fields["MerchantTradeNo"])
        return Hostile(kind, INGEST_PAYMENTS, merchant.encode(), json.dumps(fields).encode(), order=order)

    def _sealed(self, operation: str, data: dict[str, Any], merchant: str, key: str, iv: str) -> dict[str, Any]:
        envelope = seal_request(data, merchant, None, key, iv, _now())
        return self._raw(operation, envelope.to_wire())

    def _raw(self, operation: str, envelope: dict[str, Any]) -> dict[str, Any]:
        return {"request_id": self._id(), "operation": operation, "envelope": envelope}

    def _gift_issue(self, merchant: str) -> dict[str, Any]:
        line = {"ItemNo": "GF000030", "TicketAmount": 1}
        return {"MerchantID": merchant, "FreeTradeNo": self._id(), "IssueType": "3", "TicketInfo": [line]}

    def _stranger(self) -> str:
        return "7" + "".join(self.rng.choice(string.digits) for _ in range(9))

    def _id(self, poison: str = "") -> str:
        token = self._token(14)
        return token[:7] + poison + token[7:]

    def _token(self, length: int) -> str:
        return "".join(self.rng.choice(string.ascii_uppercase + string.digits) for _ in range(length))


def _nest(i: int, message: Hostile) -> Hostile:
    """The message with its NEST placeholder replaced by 1,200 levels of lists or of objects (written as text:
    json.dumps itself recurses and gives up near 1,000 levels)."""
    opening, closing = (b"[", b"]") if i % 2 else (b'{"a":', b"}")
    nested = opening * NESTING + b'"x"' + closing * NESTING
    return replace(message, value=message.value.replace(json.dumps(NEST).encode(), nested))


def _now() -> int:
    return int(datetime.now(UTC).timestamp())
