"""A sender's own request topic (shared/topics.py) and the rule for what may be sent on it
(shared/ecticket/authentication.py): only that sender's requests, refused before any lookup or key."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from shared.contracts.rtncodes import RtnCode
from shared.ecticket.authentication import Caller, MerchantDirectory, Refusal
from shared.ecticket.envelope import seal_request
from shared.infra.messages import Route, Routes
from shared.merchants.model import Merchant
from shared.sandbox.merchant import KEYS
from shared.topics import (
    INGEST_PAYMENTS,
    INGEST_REPLIES,
    INGEST_REQUESTS,
    PAYMENT_EVENTS,
    base_of,
    reply_topic,
    sender_of,
    sender_topic,
    subscription_pattern,
)
from tests.support.merchants import sandbox_merchant

MERCHANT, PLATFORM, SUB_MERCHANT = "2000132", "3085676", "3085672"


def test_a_senders_topic_is_named_after_the_shared_one_and_read_back_to_its_sender() -> None:
    topic = sender_topic(INGEST_REQUESTS, MERCHANT)
    assert topic == "ecticket.ingest.requests.v1.2000132"
    assert (sender_of(topic), base_of(topic)) == (MERCHANT, INGEST_REQUESTS)
    assert (sender_of(INGEST_REQUESTS), base_of(INGEST_REQUESTS)) == (None, INGEST_REQUESTS)
    # Its replies come on its own reply topic; a request on the shared topic is answered on the shared one.
    assert reply_topic(MERCHANT) == "ecticket.ingest.replies.v1.2000132"
    assert (sender_of(reply_topic(MERCHANT)), base_of(reply_topic(MERCHANT))) == (MERCHANT, INGEST_REPLIES)
    assert reply_topic(None) == INGEST_REPLIES
    # Only request topics have doors, and only ids that could be a MerchantID name one.
    assert sender_of(f"{INGEST_PAYMENTS}.{MERCHANT}") is None
    assert sender_of(f"{INGEST_REQUESTS}.20001/32") is None
    for bad in ("", "12345678901", "20001.32", "a-b"):
        with pytest.raises(ValueError):
            sender_topic(INGEST_REQUESTS, bad)
    with pytest.raises(ValueError):
        sender_topic(PAYMENT_EVENTS, MERCHANT)


def test_a_consumer_of_the_shared_request_topic_subscribes_to_every_senders_topic_and_nothing_more() -> None:
    pattern = re.compile(subscription_pattern([INGEST_REQUESTS, PAYMENT_EVENTS]))
    assert pattern.match(INGEST_REQUESTS) and pattern.match(PAYMENT_EVENTS)
    assert pattern.match(f"{INGEST_REQUESTS}.{MERCHANT}")
    for other in (f"{PAYMENT_EVENTS}.{MERCHANT}", f"{INGEST_REQUESTS}x", f"{INGEST_REQUESTS}.a.b", INGEST_PAYMENTS):
        assert not pattern.match(other)


def test_a_record_on_a_senders_topic_takes_the_route_of_the_shared_topic() -> None:
    route: Route[Any] = Route(parse=lambda r: None, handle=lambda c, i: None)  # type: ignore[arg-type,return-value]
    routes = Routes({INGEST_REQUESTS: route})
    assert routes[f"{INGEST_REQUESTS}.{MERCHANT}"] is route
    with pytest.raises(KeyError):
        routes[PAYMENT_EVENTS]


def merchant_with_keys(merchant_id: str, platform_id: str | None = None) -> Merchant:
    return sandbox_merchant(merchant_id, *KEYS[merchant_id], platform_id=platform_id)


class Known:
    def __init__(self, *merchants: Merchant) -> None:
        self.by_id = {m.merchant_id: m for m in merchants}

    def get(self, key: str) -> Merchant | None:
        return self.by_id.get(key)

    async def lookup(self, key: str) -> Merchant | None:
        return self.by_id.get(key)


DIRECTORY = MerchantDirectory(
    Known(
        merchant_with_keys(MERCHANT),
        merchant_with_keys(PLATFORM),
        merchant_with_keys(SUB_MERCHANT, platform_id=PLATFORM),
    )
)


def envelope(merchant_id: str, platform_id: str | None = None) -> dict[str, Any]:
    key, iv = KEYS[platform_id or merchant_id]
    data = {"MerchantID": merchant_id}
    return seal_request(data, merchant_id, platform_id, key, iv, int(time.time())).to_wire()


async def on(topic: str, raw: dict[str, Any]) -> Caller | Refusal:
    return await DIRECTORY.authenticate(raw, int(time.time()), topic=topic)


async def test_a_merchant_is_answered_on_its_own_topic_and_on_the_shared_one() -> None:
    assert isinstance(await on(sender_topic(INGEST_REQUESTS, MERCHANT), envelope(MERCHANT)), Caller)
    assert isinstance(await on(INGEST_REQUESTS, envelope(MERCHANT)), Caller)


async def test_a_platform_acts_for_its_merchants_on_its_own_topic() -> None:
    assert isinstance(await on(sender_topic(INGEST_REQUESTS, PLATFORM), envelope(SUB_MERCHANT, PLATFORM)), Caller)


@pytest.mark.parametrize(
    ("owner", "merchant_id", "platform_id"),
    [
        (MERCHANT, PLATFORM, None),  # another merchant, its own keys: a stolen HashKey used from the wrong door
        (SUB_MERCHANT, SUB_MERCHANT, PLATFORM),  # the platform's request on its sub-merchant's door
        (PLATFORM, SUB_MERCHANT, None),  # a sub-merchant signing for itself on its platform's door
        (MERCHANT, "9999999", None),  # a merchant that does not exist: the same answer (no existence oracle)
    ],
)
async def test_a_request_on_someone_elses_topic_is_refused_before_any_key_is_tried(
    owner: str, merchant_id: str, platform_id: str | None
) -> None:
    raw = (
        envelope(merchant_id, platform_id) if merchant_id in KEYS else envelope(MERCHANT) | {"MerchantID": merchant_id}
    )
    refused = await on(sender_topic(INGEST_REQUESTS, owner), raw)
    assert isinstance(refused, Refusal)
    assert (refused.code, refused.envelope_level, refused.signer) == (RtnCode.PLATFORM_NOT_AUTHORISED, True, None)
    assert refused.detail == f"this topic is sender {owner}'s own: a request on it must come from {owner}"
