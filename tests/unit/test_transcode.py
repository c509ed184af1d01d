"""TransCode is 1 once the envelope was received, decrypted and verified; only an envelope failure sets it
(docs/rtncodes.md). Data that verifies but is not a JSON object is a business refusal: RtnCode 1001 inside Data."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from shared.contracts.events import Producer
from shared.contracts.ingest import IngestRequest, RequestReplied
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.authentication import Caller, MerchantDirectory, Refusal
from shared.ecticket.crypto import check_mac_value, encrypt_data
from shared.ecticket.envelope import OpenedData, ResponseEnvelope, open_response
from shared.ecticket.replies import Addressee, refusal_reply
from shared.merchants.model import Merchant
from shared.topics import INGEST_REQUESTS
from tests.support.merchants import sandbox_merchant

pytestmark = pytest.mark.unit

NOW = datetime(2026, 5, 4, 3, 2, 1, tzinfo=UTC)
KEY, IV = "7b53896b742849d3", "37a0ad3c6ffa428b"
MERCHANT_ID = "3085676"


class OneMerchant:
    def __init__(self, merchant: Merchant) -> None:
        self.merchant = merchant

    def get(self, key: str) -> Merchant | None:
        return self.merchant if key == self.merchant.merchant_id else None

    async def lookup(self, key: str) -> Merchant | None:
        return self.get(key)


def _merchant() -> Merchant:
    return sandbox_merchant(MERCHANT_ID, KEY, IV)


def _envelope(plaintext: str, *, mac_of: str | None = None) -> dict[str, Any]:
    """A request envelope sealing `plaintext` verbatim (whatever it is), checksummed over `mac_of` if given."""
    return {
        "MerchantID": MERCHANT_ID,
        "RqHeader": {"Timestamp": int(NOW.timestamp())},
        "Data": encrypt_data(plaintext, KEY, IV),
        "CheckMacValue": check_mac_value(mac_of if mac_of is not None else plaintext, KEY, IV),
    }


async def _answer(envelope: dict[str, Any]) -> tuple[RequestReplied, dict[str, Any] | None]:
    """The reply the platform publishes for this envelope, and its opened Data (None when Data is empty)."""
    who = await MerchantDirectory(OneMerchant(_merchant())).authenticate(
        envelope, int(NOW.timestamp()), topic=INGEST_REQUESTS
    )
    assert isinstance(who, Refusal), who
    request = IngestRequest(request_id="R1", operation="Issue", envelope=envelope)
    out = refusal_reply(Addressee.of(uuid.uuid4(), request, who), who, NOW, Producer("issuance"))
    replied = RequestReplied.model_validate(out.envelope.payload)
    response = ResponseEnvelope.model_validate(replied.response)
    if not response.data:
        return replied, None
    opened = open_response(response, KEY, IV)
    assert isinstance(opened, OpenedData), opened
    return replied, opened.data


@pytest.mark.parametrize("plaintext", ["not json at all", "[1, 2, 3]", '"a string"', "{" * 20 + "}" * 20])
async def test_verified_data_that_is_not_a_json_object_is_answered_transcode_1_and_rtncode_1001(
    plaintext: str,
) -> None:
    replied, data = await _answer(_envelope(plaintext))
    assert (replied.trans_code, replied.rtn_code) == (1, RtnCode.DATA_INVALID)
    assert ResponseEnvelope.model_validate(replied.response).trans_msg == "Success"
    assert data is not None and data["RtnCode"] == RtnCode.DATA_INVALID


async def test_a_checksum_that_does_not_match_is_still_an_envelope_failure_in_transcode() -> None:
    replied, data = await _answer(_envelope('{"MerchantID":"3085676"}', mac_of='{"MerchantID":"3085677"}'))
    assert (replied.trans_code, replied.rtn_code) == (RtnCode.CHECKMAC_MISMATCH, RtnCode.CHECKMAC_MISMATCH)
    assert data is not None and data["RtnCode"] == RtnCode.CHECKMAC_MISMATCH


async def test_a_verified_json_object_is_let_through_to_the_operation() -> None:
    envelope = _envelope('{"MerchantID":"3085676","FreeTradeNo":"F1"}')
    who = await MerchantDirectory(OneMerchant(_merchant())).authenticate(
        envelope, int(NOW.timestamp()), topic=INGEST_REQUESTS
    )
    assert isinstance(who, Caller) and who.data == {"MerchantID": MERCHANT_ID, "FreeTradeNo": "F1"}
