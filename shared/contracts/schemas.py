"""`python -m shared.contracts.schemas DIR`: write a JSON Schema per event type (and the envelope) for
consumers outside Python, plus docs/rtncodes.md and docs/asyncapi.json (the AsyncAPI 2.6 document of the
ingestion, reply and event topics). A unit test fails when the committed files are stale."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.contracts.envelope import EventEnvelope
from shared.contracts.events import REGISTRY, json_schemas
from shared.contracts.ingest import IngestRequest, RequestReplied
from shared.contracts.rtncodes import MESSAGES, RtnCode
from shared.topics import (
    AUDIT_INPUTS,
    CATALOG,
    INGEST_PAYMENTS,
    INGEST_REPLIES,
    INGEST_REQUESTS,
    SENDER_TOPIC_BASES,
    SENDER_TOPIC_PARTITIONS,
    Topic,
    is_ingestion,
)


def rendered_schemas() -> dict[str, str]:
    files = {"EventEnvelope.json": EventEnvelope.model_json_schema()}
    files.update({f"{name}.json": schema for name, schema in json_schemas().items()})
    return {
        name: json.dumps(schema, indent=2, ensure_ascii=False, sort_keys=True) + "\n" for name, schema in files.items()
    }


def rendered_rtncodes() -> str:
    rows = "\n".join(f"| {int(code)} | `{code.name}` | {MESSAGES[code]} |" for code in RtnCode)
    return (
        "# RtnCode table\n\n"
        "Generated from `shared/contracts/rtncodes.py` by `make schemas`; do not edit by hand.\n\n"
        "TransCode in the response envelope is `1` when the envelope was received, its Data decrypted and its\n"
        "CheckMacValue verified; otherwise it carries the envelope's failure: one of the 9xxx codes, or 1004 when\n"
        "MerchantID (or PlatformID) is not a registered, enabled merchant (no keys: Data is empty). Everything found\n"
        "after verification is a business result, `RtnCode` inside the encrypted Data, with TransCode 1: a Data that\n"
        "verifies but is not a JSON object is RtnCode 1001.\n\n"
        "| code | name | message |\n|---|---|---|\n" + rows + "\n"
    )


# --- AsyncAPI -------------------------------------------------------------------------------------------------

KAFKA_BINDING = "0.4.0"
# Payloads refer to the JSON Schemas beside the document (docs/schemas/, relative to docs/asyncapi.json): one copy
# of each schema, and the document changes only when a topic or a message does, not when a schema's field does.
FILES = "schemas/"
SCHEMAS = "#/components/schemas/"
MESSAGES_REF = "#/components/messages/"

# The ECTicket envelopes (§2.2, §2.3) as JSON Schema. Their pydantic models live in shared.ecticket, a layer above
# the contracts, so they are spelled out here; tests/unit/test_published_contracts.py keeps both the same.
REQUEST_ENVELOPE: dict[str, Any] = {
    "title": "RequestEnvelope",
    "description": "The ECTicket request envelope (../shared/docs/ecticket-api.md §2.2), as a merchant seals it.",
    "type": "object",
    "properties": {
        "PlatformID": {"type": "string", "maxLength": 10, "description": "a platform acting for MerchantID"},
        "MerchantID": {"type": "string", "minLength": 1, "maxLength": 10},
        "RqHeader": {
            "type": "object",
            "properties": {"Timestamp": {"type": "integer", "description": "Unix seconds of the send time"}},
            "required": ["Timestamp"],
        },
        "Data": {"type": "string", "description": "base64 AES-128-CBC ciphertext of the URL-encoded JSON"},
        "CheckMacValue": {"type": "string", "description": "checksum over the plaintext Data (§2.5)"},
    },
    "required": ["MerchantID", "RqHeader", "Data", "CheckMacValue"],
}
RESPONSE_ENVELOPE: dict[str, Any] = {
    "title": "ResponseEnvelope",
    "description": "The ECTicket response envelope (§2.3); Data is sealed with the caller's keys, or empty when "
    "the caller is unknown. TransCode: docs/rtncodes.md.",
    "type": "object",
    "properties": {
        "PlatformID": {"type": "string", "maxLength": 10},
        "MerchantID": {"type": "string", "maxLength": 10},
        "RpHeader": {
            "type": "object",
            "properties": {"Timestamp": {"type": "integer", "description": "Unix seconds of the send time"}},
            "required": ["Timestamp"],
        },
        "TransCode": {"type": "integer", "description": "1: envelope received and verified; else its failure"},
        "TransMsg": {"type": "string", "maxLength": 200},
        "Data": {"type": "string", "description": "base64 ciphertext of the reply JSON (RtnCode, RtnMsg, ...)"},
        "CheckMacValue": {"type": "string", "description": "checksum over the plaintext Data (empty with Data)"},
    },
    "required": ["MerchantID", "RpHeader", "TransCode", "TransMsg", "Data", "CheckMacValue"],
}
# What the sandbox payment processor delivers (ECPay's ReturnURL post, ../shared/docs/ecticket-api.md Appendix A).
# Limits: docs/decisions.md "Input limits"; the fields a confirmed payment needs are required.
AIO_PAYMENT_RESULT: dict[str, Any] = {
    "title": "AioPaymentResult",
    "description": "An ECPay AIO payment result: a flat JSON object (or the same fields form-encoded), signed "
    "with the merchant's payment keys (AIO CheckMacValue). Values are strings; integers are accepted.",
    "type": "object",
    "properties": {
        "MerchantID": {"type": "string", "pattern": "^[A-Za-z0-9]{1,10}$"},
        "MerchantTradeNo": {"type": "string", "pattern": "^[A-Za-z0-9]{1,25}$", "description": "the order paid"},
        "StoreID": {"type": "string"},
        "RtnCode": {"type": "string", "description": "1: paid; anything else: not paid"},
        "RtnMsg": {"type": "string"},
        "TradeNo": {"type": "string", "maxLength": 20, "description": "the processor's trade number"},
        "TradeAmt": {"type": "string", "pattern": "^[0-9]+$", "description": "whole NT$"},
        "PaymentDate": {"type": "string", "description": "yyyy/MM/dd HH:mm:ss, Asia/Taipei"},
        "PaymentType": {"type": "string", "description": "Credit_CreditCard for a one-time card payment"},
        "PaymentTypeChargeFee": {"type": "string"},
        "TradeDate": {"type": "string", "description": "yyyy/MM/dd HH:mm:ss, Asia/Taipei"},
        "SimulatePaid": {"type": "string", "description": "1: simulated from a test back office, never paid"},
        "CheckMacValue": {"type": "string", "description": "AIO CheckMacValue (SHA-256) over every other field"},
    },
    "required": [
        "MerchantID", "MerchantTradeNo", "RtnCode", "TradeNo", "TradeAmt", "PaymentDate", "PaymentType",
        "CheckMacValue",
    ],
    "additionalProperties": {"type": ["string", "integer"], "maxLength": 1024},
    "maxProperties": 64,
}  # fmt: skip


def asyncapi_document() -> dict[str, Any]:
    """The AsyncAPI 2.6 document: a channel per ingestion, reply and event topic of the catalog, a message per
    registered event type (in its EventEnvelope) and for the ingest request and the AIO payment result."""
    events = [REGISTRY[name] for name in sorted(REGISTRY)]
    # docs/schemas/ holds the event types only (tests/unit/test_event_registry.py): the ingest request is here.
    schemas = {"IngestRequest": IngestRequest.model_json_schema(), "RequestEnvelope": REQUEST_ENVELOPE}
    schemas |= {"ResponseEnvelope": RESPONSE_ENVELOPE, "AioPaymentResult": AIO_PAYMENT_RESULT}
    messages = {"IngestRequest": _ingest_request_message(), "AioPaymentResult": _payment_message()}
    messages |= {model.event_type: _event_message(model) for model in events}
    channels = {topic.name: _channel(topic, _messages_on(topic, events)) for topic in CATALOG if _published(topic)}
    channels |= {f"{base}.{{senderId}}": _sender_channel(channels[base]) for base in sorted(SENDER_TOPIC_BASES)}
    return {
        "asyncapi": "2.6.0",
        "info": {
            "title": "ECTicket platform topics",
            "version": "1",
            "description": "Kafka topics of the ECTicket platform: what merchants send (requests, payment results), "
            "the one reply per request, and the domain events. Generated from shared/contracts and shared/topics.py "
            "by `make schemas`; do not edit by hand. How to use them: docs/integrating.md.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
    }


def rendered_asyncapi() -> str:
    return json.dumps(asyncapi_document(), indent=2, ensure_ascii=False) + "\n"


def _published(topic: Topic) -> bool:
    """Ingestion, reply and event topics; the compacted configuration topics are the admin tools' own."""
    return not topic.compacted


def _messages_on(topic: Topic, events: list[type[Any]]) -> list[str]:
    if topic.name == INGEST_REQUESTS:
        return ["IngestRequest"]
    if topic.name == INGEST_PAYMENTS:
        return ["AioPaymentResult"]
    if topic.name == AUDIT_INPUTS:  # the archive: either kind of input, byte for byte (shared/contracts/archive.py)
        return ["IngestRequest", "AioPaymentResult"]
    return [model.event_type for model in events if model.topic == topic.name]


def _channel(topic: Topic, messages: list[str]) -> dict[str, Any]:
    # AsyncAPI 2 names operations from the application's side: "publish" = others publish, the platform receives.
    merchants_write = is_ingestion(topic.name) and topic.name != INGEST_REPLIES
    refs = [{"$ref": MESSAGES_REF + name} for name in messages]
    operation = {
        "operationId": ("send" if merchants_write else "receive") + "_" + topic.name.replace(".", "_"),
        "summary": topic.purpose,
        "message": refs[0] if len(refs) == 1 else {"oneOf": refs},
    }
    return {
        "description": f"{topic.purpose}. Kafka key: {topic.key}.",
        "publish" if merchants_write else "subscribe": operation,
        "bindings": {
            "kafka": {
                "topic": topic.name,
                "partitions": topic.partitions,
                "topicConfiguration": {
                    "cleanup.policy": ["compact" if topic.compacted else "delete"],
                    "retention.ms": topic.retention_ms,
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _sender_channel(shared: dict[str, Any]) -> dict[str, Any]:
    """A sender's own copy of a request or reply topic (`python -m shared.admin merchant-connect`,
    docs/security.md)."""
    side = "publish" if "publish" in shared else "subscribe"
    operation = {**shared[side], "operationId": shared[side]["operationId"] + "_senderId"}
    kafka = {**shared["bindings"]["kafka"], "partitions": SENDER_TOPIC_PARTITIONS}
    del kafka["topic"]  # one per sender: the channel's name with its senderId
    own = (
        "only its principal may write it; a request on it must be sent by that sender (else TransCode and RtnCode "
        "1003), and its reply comes on the sender's own reply topic"
        if side == "publish"
        else "the replies to the requests on the sender's own request topic; only its principal may read it"
    )
    return {
        "description": shared["description"] + f" A merchant's (or platform's) own topic: {own}.",
        "parameters": {
            "senderId": {
                "description": "The MerchantID, or the PlatformID of a platform sending for its merchants.",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9]{1,10}$"},
            }
        },
        side: operation,
        "bindings": {"kafka": kafka},
    }


def _key(description: str) -> dict[str, Any]:
    return {"kafka": {"key": {"type": "string", "description": description}, "bindingVersion": KAFKA_BINDING}}


def _ingest_request_message() -> dict[str, Any]:
    return {
        "messageId": "IngestRequest",
        "name": "IngestRequest",
        "title": "An ECTicket request",
        "summary": "One ECTicket operation (Issue, WriteOff, Refund, ...) and its sealed request envelope.",
        "payload": {
            "allOf": [
                {"$ref": SCHEMAS + "IngestRequest"},
                {"properties": {"envelope": {"$ref": SCHEMAS + "RequestEnvelope"}}},
            ]
        },
        "bindings": _key("MerchantID of the envelope"),
    }


def _payment_message() -> dict[str, Any]:
    return {
        "messageId": "AioPaymentResult",
        "name": "AioPaymentResult",
        "title": "An AIO payment result",
        "summary": "A consumer's payment for an order, as the payment processor delivers it.",
        "contentType": "application/json",
        "payload": {"$ref": SCHEMAS + "AioPaymentResult"},
        "bindings": _key("MerchantID"),
    }


def _event_message(model: type[Any]) -> dict[str, Any]:
    payload: dict[str, Any] = {"$ref": f"{FILES}{model.event_type}.json"}
    if model is RequestReplied:
        payload = {"allOf": [payload, {"properties": {"response": {"$ref": SCHEMAS + "ResponseEnvelope"}}}]}
    summary = (model.__doc__ or model.event_type).strip().splitlines()[0]
    return {
        "messageId": model.event_type,
        "name": model.event_type,
        "title": model.event_type,
        "summary": summary,
        "payload": {
            "allOf": [
                {"$ref": FILES + "EventEnvelope.json"},
                {
                    "properties": {
                        "event_type": {"const": model.event_type},
                        "schema_version": {"const": model.schema_version},
                        "payload": payload,
                    }
                },
            ]
        },
        "bindings": _key("the envelope's key (merchant/order for order events)"),
    }


def main() -> None:
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schemas")
    target.mkdir(parents=True, exist_ok=True)
    for name, text in rendered_schemas().items():
        (target / name).write_text(text)
    (target.parent / "rtncodes.md").write_text(rendered_rtncodes())
    (target.parent / "asyncapi.json").write_text(rendered_asyncapi())
    print(
        f"wrote {len(rendered_schemas())} schemas to {target}, {target.parent / 'rtncodes.md'} "
        f"and {target.parent / 'asyncapi.json'}"
    )


if __name__ == "__main__":
    main()
