"""A merchant's side of the ingestion topics: sealed ECTicket requests, AIO payment results, opened replies."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from shared.ecticket.envelope import OpenedData, ResponseEnvelope, open_response, seal_request
from shared.infra.seal import is_sealed_topic, sealed_headers
from shared.sandbox.aio import as_form, as_json
from shared.topics import INGEST_PAYMENTS, INGEST_REQUESTS

# Test keys of the seeded merchants (shared.admin.seed): MerchantID -> (HashKey, HashIV).
KEYS = {
    "3085676": ("7b53896b742849d3", "37a0ad3c6ffa428b"),
    "3085672": ("b15bd8514fed472c", "9c8458263def47cd"),
    "3362787": ("c539115ea7674f20", "86f625e60cb1473a"),
    "2000132": ("ejCk326UnaZWKisg", "q9jcZX8Ib9LM8wYk"),
}


def unique(prefix: str = "T") -> str:
    return (prefix + uuid.uuid4().hex)[:20].upper()


@dataclass
class MerchantClient:
    producer: AIOKafkaProducer

    def request(
        self,
        operation: str,
        data: dict[str, Any],
        *,
        merchant_id: str,
        platform_id: str | None = None,
        request_id: str | None = None,
        timestamp: int | None = None,
        signer: str | None = None,
    ) -> dict[str, Any]:
        key, iv = KEYS[signer or platform_id or merchant_id]
        envelope = seal_request(data, merchant_id, platform_id, key, iv, timestamp or int(time.time()))
        return {"request_id": request_id or unique("R"), "operation": operation, "envelope": envelope.to_wire()}

    async def send_request(
        self, message: dict[str, Any], partition: int | None = None, topic: str = INGEST_REQUESTS
    ) -> str:
        """Keyed by MerchantID like the gateway; `partition` forces one (to race requests across partitions);
        `topic`: a sender's own (shared/topics.py, `sender_topic`) instead of the shared one."""
        merchant = message["envelope"].get("MerchantID", "")
        body = json.dumps(message).encode()
        await self.producer.send_and_wait(topic, body, key=merchant.encode(), partition=partition)
        return str(message["request_id"])

    async def send_payment(self, fields: dict[str, str], *, form: bool = False) -> None:
        body = as_form(fields) if form else as_json(fields)
        await self.producer.send_and_wait(INGEST_PAYMENTS, body, key=fields["MerchantID"].encode())

    async def send_raw(self, topic: str, body: bytes, key: bytes | None = None) -> None:
        """`body` as is; on a platform topic sealed as its owning service's relay would (tests and drivers that
        stand in for a service): a consumer drops a record without the seal before reading it."""
        headers = sealed_headers(topic, key, body) if is_sealed_topic(topic) else None
        await self.producer.send_and_wait(topic, body, key=key, headers=headers)


def open_reply(response: dict[str, Any], merchant_id: str) -> dict[str, Any]:
    """The decrypted reply Data, verified with the caller's keys (like a merchant's SDK would)."""
    envelope = ResponseEnvelope.model_validate(response)
    key, iv = KEYS[merchant_id]
    opened = open_response(envelope, key, iv)
    assert isinstance(opened, OpenedData), opened
    return opened.data
