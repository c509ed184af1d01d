"""A merchant's ECTicket client written from `../shared/docs/ecticket-api.md` §2 alone, not from the platform's code.

It shares nothing with `shared.ecticket` (nor any other platform module): its own PHP-style URL-encoding (§2.4,
§2.6), AES-128-CBC with PKCS7 (§2.4), CheckMacValue (§2.5) and envelopes (§2.2, §2.3), and its own Kafka client
for the ingestion topics as docs/integrating.md describes them. A bug the platform's envelope code shares with
its own tests cannot hide from this one: it is checked against the document's official vectors
(tests/unit/test_independent_client.py) and then talks to the real platform (tests/integration/).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import os
import ssl
import string
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def _credentials() -> dict[str, Any]:
    """SASL/SCRAM as the deployment's admin when the broker authenticates (KAFKA_AUTH=scram and the credential files
    deploy/local/infra.sh writes), over TLS verified with the instance's CA when it speaks TLS (KAFKA_TLS=1,
    KAFKA_TLS_CA): read from the environment here, not through the platform's code."""
    tls: dict[str, Any] = {}
    if os.environ.get("KAFKA_TLS", "0") == "1":
        tls = {"ssl_context": ssl.create_default_context(cafile=os.environ.get("KAFKA_TLS_CA") or None)}
    if os.environ.get("KAFKA_AUTH", "none") != "scram":
        return {"security_protocol": "SSL", **tls} if tls else {}
    password = Path(os.environ["KAFKA_CREDENTIALS_DIR"], "admin").read_text().strip()
    return {
        "security_protocol": "SASL_SSL" if tls else "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "admin",
        "sasl_plain_password": password,
        **tls,
    }


# The topics as docs/integrating.md names them (spelled out: a merchant has no access to the platform's code).
REQUESTS_TOPIC = "ecticket.ingest.requests.v1"
REPLIES_TOPIC = "ecticket.ingest.replies.v1"

# PHP urlencode keeps only letters, digits and "-_."; a space becomes "+" (§2.6).
_UNRESERVED = frozenset((string.ascii_letters + string.digits + "-_.").encode("ascii"))


def php_urlencode(text: str) -> str:
    out = []
    for byte in text.encode("utf-8"):
        if byte in _UNRESERVED:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def urldecode(encoded: str) -> str:
    """`+` and `%20` are both a space and hex may be in either case (§2.4 notes): decode any client's flavour."""
    return unquote_to_bytes(encoded.replace("+", " ")).decode("utf-8")


def _cipher(hash_key: str, hash_iv: str) -> Cipher[modes.CBC]:
    return Cipher(algorithms.AES(hash_key.encode("ascii")), modes.CBC(hash_iv.encode("ascii")))


def encrypt(plaintext: str, hash_key: str, hash_iv: str) -> str:
    """§2.4: URL-encode, AES-128-CBC with PKCS7, standard base64."""
    padder = padding.PKCS7(128).padder()
    padded = padder.update(php_urlencode(plaintext).encode("ascii")) + padder.finalize()
    encryptor = _cipher(hash_key, hash_iv).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode("ascii")


def decrypt(data: str, hash_key: str, hash_iv: str) -> str:
    decryptor = _cipher(hash_key, hash_iv).decryptor()
    padded = decryptor.update(base64.b64decode(data, validate=True)) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return urldecode((unpadder.update(padded) + unpadder.finalize()).decode("ascii"))


def check_mac_value(plaintext: str, hash_key: str, hash_iv: str) -> str:
    """§2.5: UPPER(SHA256(LOWER(URLEncode(HashKey + plaintext + HashIV))))."""
    encoded = php_urlencode(hash_key + plaintext + hash_iv).lower()
    return hashlib.sha256(encoded.encode("ascii")).hexdigest().upper()


def seal(
    data: dict[str, Any], merchant_id: str, hash_key: str, hash_iv: str, *, timestamp: int, platform_id: str = ""
) -> dict[str, Any]:
    """A §2.2 request envelope; the compact JSON is both what is encrypted and what is checksummed (§2.4 step 1)."""
    plaintext = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return seal_plaintext(plaintext, merchant_id, hash_key, hash_iv, timestamp=timestamp, platform_id=platform_id)


def seal_plaintext(
    plaintext: str, merchant_id: str, hash_key: str, hash_iv: str, *, timestamp: int, platform_id: str = ""
) -> dict[str, Any]:
    """An envelope around any text, JSON or not (to send what a buggy client would)."""
    envelope: dict[str, Any] = {"PlatformID": platform_id} if platform_id else {}
    return envelope | {
        "MerchantID": merchant_id,
        "RqHeader": {"Timestamp": timestamp},
        "Data": encrypt(plaintext, hash_key, hash_iv),
        "CheckMacValue": check_mac_value(plaintext, hash_key, hash_iv),
    }


class ReplyNotAuthentic(Exception):
    """The reply's CheckMacValue does not match its Data: it was not sealed with our keys."""


@dataclass(frozen=True)
class Reply:
    """A §2.3 response: TransCode and, when Data is not empty, its verified, decrypted content."""

    trans_code: int
    trans_msg: str
    data: dict[str, Any] | None

    @property
    def rtn_code(self) -> int | None:
        return None if self.data is None else int(self.data["RtnCode"])


def open_response(envelope: dict[str, Any], hash_key: str, hash_iv: str) -> Reply:
    """§2.3's client-side order: decrypt, verify the checksum over the plaintext verbatim, then parse the JSON.

    TransCode is read, not enforced: the platform still seals Data explaining a failed envelope when it knows
    the caller, and an unknown caller gets empty Data."""
    trans_code, trans_msg = int(envelope["TransCode"]), str(envelope["TransMsg"])
    if not envelope["Data"]:
        return Reply(trans_code, trans_msg, None)
    plaintext = decrypt(envelope["Data"], hash_key, hash_iv)
    expected = check_mac_value(plaintext, hash_key, hash_iv)
    if not hmac.compare_digest(expected, str(envelope["CheckMacValue"]).upper()):
        raise ReplyNotAuthentic(f"CheckMacValue {envelope['CheckMacValue']} does not match Data")
    return Reply(trans_code, trans_msg, json.loads(plaintext))


@dataclass
class KafkaMerchant:
    """A merchant (or a platform acting for one) on the ingestion topics: one request in, its one reply out.

    Replies are read from the end of the reply topic as it was when the client started, without a consumer group
    (nothing to commit, nothing shared with other clients), and matched to requests by `request_id`."""

    bootstrap: str
    merchant_id: str
    hash_key: str
    hash_iv: str
    platform_id: str = ""
    _producer: AIOKafkaProducer | None = None
    _consumer: AIOKafkaConsumer | None = None
    _reader: asyncio.Task[None] | None = None
    _replies: dict[str, dict[str, Any]] = field(default_factory=dict)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", **_credentials())
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, enable_auto_commit=False, **_credentials()
        )
        await self._producer.start()
        await self._consumer.start()
        partitions = [TopicPartition(REPLIES_TOPIC, p) for p in sorted(await self._partitions())]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_end(*partitions)
        for partition in partitions:  # fix the starting offsets now, before the first request is sent
            await self._consumer.position(partition)
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def __aenter__(self) -> KafkaMerchant:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def send(self, operation: str, data: dict[str, Any] | str, *, request_id: str | None = None) -> str:
        """Publish the request, keyed by MerchantID; its request_id (ours to choose, unique per request).
        `data` given as text is sealed verbatim (to send what a buggy client would)."""
        assert self._producer is not None, "start() first"
        request_id = request_id or uuid.uuid4().hex
        plaintext = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        now = int(time.time())
        keys = (self.merchant_id, self.hash_key, self.hash_iv)
        envelope = seal_plaintext(plaintext, *keys, timestamp=now, platform_id=self.platform_id)
        message = {"request_id": request_id, "operation": operation, "envelope": envelope}
        await self._producer.send_and_wait(REQUESTS_TOPIC, json.dumps(message).encode(), key=self.merchant_id.encode())
        return request_id

    async def reply(self, request_id: str, seconds: float = 30) -> Reply:
        """The reply to `request_id`, opened with our keys; TimeoutError if none arrives in time."""
        async with asyncio.timeout(seconds):
            while request_id not in self._replies:
                self._arrived.clear()
                await self._arrived.wait()
        return open_response(self._replies[request_id]["response"], self.hash_key, self.hash_iv)

    async def call(self, operation: str, data: dict[str, Any] | str, seconds: float = 30) -> Reply:
        return await self.reply(await self.send(operation, data), seconds)

    async def _partitions(self) -> set[int]:
        assert self._consumer is not None
        for _ in range(50):  # metadata for a topic can take a moment after the client connects
            found = self._consumer.partitions_for_topic(REPLIES_TOPIC)
            if found:
                return set(found)
            await self._consumer._client.force_metadata_update()
            await asyncio.sleep(0.1)
        raise RuntimeError(f"topic {REPLIES_TOPIC} has no partitions: is the platform set up?")

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    # The reply travels in the platform's event envelope: {"event_type": ..., "payload": {...}}.
                    event = json.loads(record.value or b"{}")
                    payload = event.get("payload") or {}
                    if event.get("event_type") == "RequestReplied" and "request_id" in payload:
                        self._replies[payload["request_id"]] = payload
                        self._arrived.set()
