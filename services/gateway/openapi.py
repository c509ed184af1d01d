"""The gateway's OpenAPI 3.1 document (pure), served at /openapi.json and committed as docs/openapi.json.

`python -m services.gateway.openapi docs/openapi.json` writes it; tests/unit/test_gateway_openapi.py fails when the
committed copy differs from what this module makes."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.contracts.operations import OWNERS

_PURPOSE = {
    "Issue": "Issue tickets for a paid order (MerchantTradeNo) or a gift order (FreeTradeNo) (§3.1).",
    "WriteOff": "Write a ticket off (Action 1) or cancel its write-off (Action 2); the reply is the final outcome.",
    "Refund": "Refund a ticket (Action 1) or cancel its refund (Action 2); the reply is the final outcome.",
    "EscrowDay": "The merchant's escrow period in days (§3.4).",
    "QueryItemInfo": "One listed product (§3.5).",
    "BatchQueryItemInfo": "Products, 20 a page (§3.6).",
    "QueryIssueResult": "The result of an Issue: Status 1 issued, 2 failed, 3 processing (§3.7).",
    "QueryPrintData": "The unused tickets of an order, to print (§3.8).",
    "QueryTicketStatus": "One ticket by TicketNo or WriteOffNo, or an order's tickets 200 a page (§3.9).",
    "QueryRefundInfo": "An order's refunds and what the bank confirmed (§3.10).",
    "QueryOrderInfo": "An order and its tickets, 200 a page (§3.11).",
    "OrderDetail": "Orders or tickets issued between two dates as CSV in Data; one file a minute (§3.12).",
}

_ENVELOPE_REQUEST = {
    "type": "object",
    "description": "§2.2. Data is the AES-128-CBC ciphertext (base64) of the URL-encoded JSON; CheckMacValue is "
    "UPPER(SHA256(LOWER(URLEncode(HashKey + plaintext + HashIV)))).",
    "required": ["MerchantID", "RqHeader", "Data", "CheckMacValue"],
    "properties": {
        "PlatformID": {"type": ["string", "null"], "maxLength": 10},
        "MerchantID": {"type": "string", "pattern": "^[A-Za-z0-9]{1,10}$"},
        "RqHeader": {
            "type": "object",
            "required": ["Timestamp"],
            "properties": {"Timestamp": {"type": "integer", "description": "Unix seconds; ±600 s"}},
        },
        "Data": {"type": "string", "format": "byte"},
        "CheckMacValue": {"type": "string", "pattern": "^[0-9A-F]{64}$"},
    },
}

_ENVELOPE_RESPONSE = {
    "type": "object",
    "description": "§2.3. TransCode 1: the envelope was received, decrypted and verified; the business result is "
    "RtnCode inside Data (encrypted with the caller's keys). Otherwise TransCode is the envelope's failure "
    "(docs/rtncodes.md) and Data is empty when the caller could not be identified.",
    "required": ["MerchantID", "RpHeader", "TransCode", "TransMsg", "Data", "CheckMacValue"],
    "properties": {
        "PlatformID": {"type": "string"},
        "MerchantID": {"type": "string"},
        "RpHeader": {"type": "object", "properties": {"Timestamp": {"type": "integer"}}},
        "TransCode": {"type": "integer"},
        "TransMsg": {"type": "string"},
        "Data": {"type": "string"},
        "CheckMacValue": {"type": "string"},
    },
}

_ERROR = {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}


def _text(description: str, example: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}, "example": example}}}


def _operation(name: str) -> dict[str, Any]:
    envelope, error = "#/components/schemas/ResponseEnvelope", "#/components/schemas/Error"
    return {
        "post": {
            "operationId": name,
            "summary": _PURPOSE[name],
            "tags": ["ECTicket"],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RequestEnvelope"}}},
            },
            "responses": {
                "200": _json(
                    envelope,
                    "The owning service's one reply. An identical request sent again gets the "
                    "same reply (header X-Replayed: true) and is never decided twice.",
                ),
                "400": _json(
                    envelope,
                    "Not a request envelope (not a JSON object, no plausible MerchantID): TransCode 9001, empty Data.",
                ),
                "403": _json(error, "Too many requests for this MerchantID (header Retry-After)."),
                "413": _json(envelope, "The body exceeds the size limit: TransCode 9001, empty Data."),
                "503": _json(error, "Not forwarded, or the gateway is stopping: send the identical request again."),
                "504": _json(error, "No reply in time: send the identical request again to get its outcome."),
            },
        }
    }


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {f"/api/Ticket/{name}": _operation(name) for name in OWNERS}
    paths["/payment/ecpay/return"] = {
        "post": {
            "operationId": "PaymentReturn",
            "summary": "ECPay's AIO payment-result callback (form-encoded, Appendix A); answered 1|OK once the result "
            "is durably on ecticket.ingest.payments.v1.",
            "tags": ["Payments"],
            "requestBody": {
                "required": True,
                "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": _text("On the payments topic.", "1|OK"),
                "400": _text(
                    "Not an AIO result, unknown MerchantID, or a CheckMacValue that does not match.",
                    "0|CheckMacValue does not match",
                ),
                "413": _text("The body is too large.", "0|the body is too large"),
                "503": _text("Not accepted now: ECPay sends it again later.", "0|not accepted now; send it again"),
            },
        }
    }
    paths["/health"] = {"get": _probe("Health", "Liveness: the process answers.")}
    paths["/ready"] = {
        "get": _probe(
            "Ready",
            "Readiness: accepting, reply tail running, database answering; 503 "
            "otherwise (and while draining on shutdown).",
        )
    }
    paths["/openapi.json"] = {
        "get": {
            "operationId": "OpenApi",
            "summary": "This document.",
            "tags": ["Operations"],
            "responses": {"200": {"description": "OpenAPI 3.1"}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ECTicket platform HTTP gateway",
            "version": "1",
            "description": "The ECTicket API over HTTP (docs/http.md): every path forwards its envelope onto "
            "ecticket.ingest.requests.v1 and relays the owning service's one reply, so HTTP and Kafka answer alike.",
        },
        "servers": [{"url": "http://127.0.0.1:8080"}],
        "paths": paths,
        "components": {
            "schemas": {
                "RequestEnvelope": _ENVELOPE_REQUEST,
                "ResponseEnvelope": _ENVELOPE_RESPONSE,
                "Error": _ERROR,
            }
        },
    }


def _probe(name: str, summary: str) -> dict[str, Any]:
    return {
        "operationId": name,
        "summary": summary,
        "tags": ["Operations"],
        "responses": {"200": {"description": "yes"}, "503": {"description": "no"}},
    }


def rendered() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi.json").write_text(rendered())
