"""The JSON Schemas, the RtnCode table and the AsyncAPI document in docs/ are what the code says (regenerate with
`make schemas`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from shared.contracts.events import REGISTRY
from shared.contracts.schemas import (
    REQUEST_ENVELOPE,
    RESPONSE_ENVELOPE,
    asyncapi_document,
    rendered_asyncapi,
    rendered_rtncodes,
    rendered_schemas,
)
from shared.ecticket.envelope import RequestEnvelope, ResponseEnvelope
from shared.topics import CATALOG, INGEST_PAYMENTS, INGEST_REPLIES, INGEST_REQUESTS

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_event_type_has_an_up_to_date_json_schema_in_docs() -> None:
    for name, text in rendered_schemas().items():
        path = DOCS / "schemas" / name
        assert path.exists() and path.read_text() == text, f"{path} is stale: run `make schemas`"


def test_the_rtncode_table_in_docs_is_up_to_date() -> None:
    assert (DOCS / "rtncodes.md").read_text() == rendered_rtncodes(), "docs/rtncodes.md is stale: run `make schemas`"


def test_the_asyncapi_document_in_docs_is_up_to_date() -> None:
    assert (DOCS / "asyncapi.json").read_text() == rendered_asyncapi(), (
        "docs/asyncapi.json is stale: run `make schemas`"
    )


def test_the_asyncapi_document_has_a_channel_per_ingestion_reply_and_event_topic_and_every_event_on_its_topic() -> None:
    document = asyncapi_document()
    assert document["asyncapi"] == "2.6.0"
    channels = document["channels"]
    senders_own = {f"{INGEST_REQUESTS}.{{senderId}}", f"{INGEST_REPLIES}.{{senderId}}"}  # docs/security.md
    assert set(channels) == {t.name for t in CATALOG if not t.compacted} | senders_own
    for name, model in REGISTRY.items():
        operation = channels[model.topic]["subscribe"]
        refs = operation["message"].get("oneOf", [operation["message"]])
        assert {"$ref": f"#/components/messages/{name}"} in refs, f"{name} is not on {model.topic}"
    assert channels[INGEST_REQUESTS]["publish"]["message"] == {"$ref": "#/components/messages/IngestRequest"}
    assert channels[INGEST_PAYMENTS]["publish"]["message"] == {"$ref": "#/components/messages/AioPaymentResult"}
    assert channels[f"{INGEST_REQUESTS}.{{senderId}}"]["publish"] == channels[INGEST_REQUESTS]["publish"] | {
        "operationId": "send_ecticket_ingest_requests_v1_senderId"
    }
    own_replies = channels[f"{INGEST_REPLIES}.{{senderId}}"]["subscribe"]["message"]
    assert own_replies == channels[INGEST_REPLIES]["subscribe"]["message"]


def test_every_reference_of_the_asyncapi_document_resolves() -> None:
    document = asyncapi_document()
    refs = _refs(document)
    assert refs, "the document refers to nothing"
    for ref in refs:
        if ref.startswith("#/"):
            node: Any = document
            for part in ref[2:].split("/"):
                node = node[part]
        else:
            assert (DOCS / ref).exists(), f"{ref} is not beside docs/asyncapi.json"


@pytest.mark.parametrize(
    ("model", "written"), [(RequestEnvelope, REQUEST_ENVELOPE), (ResponseEnvelope, RESPONSE_ENVELOPE)]
)
def test_the_ecticket_envelopes_in_the_asyncapi_document_are_the_platforms_models(
    model: type[BaseModel], written: dict[str, Any]
) -> None:
    schema = model.model_json_schema(by_alias=True)
    assert set(written["properties"]) == set(schema["properties"])
    assert written["required"] == schema["required"]


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [ref for value in node.values() for ref in _refs(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in _refs(value)]
    return []
