"""The gateway's pure core: what a body becomes (the message forwarded, or the gateway's own refusal), request ids
that make a replay the very same message, per-merchant buckets, the webhook's reading of an AIO result."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from services.gateway.domain import payment_results
from services.gateway.domain.rate import RateLimiter
from services.gateway.inbound import Forward, Malformed, forward, request_id_of
from shared.ids import content_id
from shared.infra.intake import parse_ingest_request
from shared.infra.messages import Inbound
from shared.sandbox.aio import as_form, payment_result, signed
from shared.topics import INGEST_REQUESTS
from tests.support.independent_client import seal

SECRET = b"k" * 32
KEY, IV = "7b53896b742849d3", "37a0ad3c6ffa428b"


def body(**extra: object) -> bytes:
    envelope = seal({"MerchantID": "3085676", "WriteOffNo": "W1", "Action": "1"}, "3085676", KEY, IV, timestamp=1)
    return json.dumps({**envelope, **extra}).encode()


def test_a_request_is_forwarded_as_an_ingest_message_every_service_can_read() -> None:
    forwarded = forward(SECRET, "WriteOff", body())
    assert isinstance(forwarded, Forward) and forwarded.merchant_id == "3085676"
    parsed = parse_ingest_request(Inbound(INGEST_REQUESTS, 0, 0, b"3085676", forwarded.value, 0))
    assert (parsed.body.request_id, parsed.body.operation) == (forwarded.request_id, "WriteOff")
    assert parsed.body.envelope == json.loads(body())


def test_the_same_request_resent_with_other_spacing_or_key_order_is_the_same_message() -> None:
    envelope = json.loads(body())
    reordered = json.dumps(dict(reversed(list(envelope.items()))), indent=2).encode()
    first, again = forward(SECRET, "WriteOff", body()), forward(SECRET, "WriteOff", reordered)
    assert isinstance(first, Forward) and isinstance(again, Forward)
    assert first.value == again.value  # so the services' inbox (a hash of the bytes) skips the second
    assert content_id(INGEST_REQUESTS, first.value) == content_id(INGEST_REQUESTS, again.value)


def test_another_operation_timestamp_or_key_gives_another_request_id() -> None:
    canonical = b'{"MerchantID":"1"}'
    ids = {
        request_id_of(SECRET, "WriteOff", canonical),
        request_id_of(SECRET, "Refund", canonical),
        request_id_of(SECRET, "WriteOff", b'{"MerchantID":"2"}'),
        request_id_of(b"other", "WriteOff", canonical),
    }
    assert len(ids) == 4 and all(i.startswith("http-") and len(i) <= 64 for i in ids)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"not json", "not acceptable JSON"),
        (b"[]", "JSON object"),
        (b'{"MerchantID": "3085676", "MerchantID": "1"}', "not acceptable JSON"),
        (b'{"Data": "x"}', "MerchantID"),
        (b'{"MerchantID": "far too long id"}', "MerchantID"),
        (b'{"MerchantID": "1", "PlatformID": "no such id!"}', "PlatformID"),
        (b'{"MerchantID": "1", "RqHeader": {"a": {"b": {"c": 1}}}}', "deep"),
    ],
)
def test_what_no_service_could_answer_is_refused_by_the_gateway(raw: bytes, why: str) -> None:
    refused = forward(SECRET, "WriteOff", raw)
    assert isinstance(refused, Malformed) and why.lower() in refused.reason.lower(), refused


def test_a_merchant_gets_its_burst_then_its_rate_and_others_are_not_affected() -> None:
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.allow("A", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("B", 0.0)
    assert limiter.retry_after("A") == 1
    assert limiter.allow("A", 0.5) and not limiter.allow("A", 0.5)


def test_the_buckets_never_outgrow_their_bound() -> None:
    limiter = RateLimiter(rate=1, burst=1, max_keys=10)
    for n in range(1000):
        limiter.allow(str(n), 0.0)
    assert len(limiter._buckets) == 10


def test_the_webhook_reads_a_form_result_and_checks_its_signature() -> None:

    fields = payment_result("3085676", "T1", 500, paid_at=datetime(2026, 1, 1, tzinfo=UTC))
    read = payment_results.read(as_form(fields))
    assert read == fields and payment_results.signed_by(read, "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs")
    forged = signed({**fields, "TradeAmt": "5"}, key="x" * 16, iv="y" * 16)
    assert not payment_results.signed_by(payment_results.read(as_form(forged)), "pwFHCqoQZGmho4w6", "EkRm7iFT261dpevs")
    for bad in (b"a=1&a=2", b"MerchantID=1", b"MerchantID=has space&MerchantTradeNo=1&CheckMacValue=X", b"\xff"):
        with pytest.raises(payment_results.NotAPaymentResult):
            payment_results.read(bad)
