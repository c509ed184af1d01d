"""What the reply tail takes from the reply topic: the replies to the gateway's own requests, nothing else."""

from __future__ import annotations

import json
from typing import Any

from services.gateway.replies import ReplyTail

RESPONSE = {"MerchantID": "3085676", "RpHeader": {"Timestamp": 1}, "TransCode": 1, "TransMsg": "Success",
            "Data": "abc", "CheckMacValue": "DEF"}  # fmt: skip


def reply(request_id: str, **changes: Any) -> bytes:
    payload = {"request_id": request_id, "operation": "WriteOff", "merchant_id": "3085676", "platform_id": None,
               "trans_code": 1, "rtn_code": 1, "response": RESPONSE, "replied_at": "2026-11-28T12:00:00+00:00"}  # fmt: skip
    return json.dumps({"event_type": "RequestReplied", "payload": payload | changes}, separators=(",", ":")).encode()


def test_a_gateway_reply_is_taken_with_its_response_as_sent() -> None:
    answered = ReplyTail._read(reply("http-abc"))
    assert answered is not None and answered.request_id == "http-abc"
    assert json.loads(answered.response) == RESPONSE and answered.operation == "WriteOff"


def test_replies_to_kafka_clients_and_strangers_bytes_are_skipped() -> None:
    assert ReplyTail._read(reply("a-kafka-clients-id")) is None
    assert ReplyTail._read(None) is None
    assert ReplyTail._read(b'{"request_id":"http-x" not json') is None
    assert ReplyTail._read(reply("http-abc", response="not an envelope")) is None
    assert ReplyTail._read(reply("http-abc", replied_at="yesterday")) is None


def test_a_reply_is_recognised_however_its_json_is_spaced() -> None:
    spaced = json.dumps(json.loads(reply("http-abc")), indent=2).encode()
    answered = ReplyTail._read(spaced)
    assert answered is not None and answered.request_id == "http-abc"
