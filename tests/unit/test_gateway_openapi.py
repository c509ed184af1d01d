"""The OpenAPI document: every ECTicket path is in it, and the committed docs/openapi.json is what the gateway
serves (`python -m services.gateway.openapi docs/openapi.json` writes it again)."""

from __future__ import annotations

from pathlib import Path

from services.gateway.openapi import document, rendered
from shared.contracts.operations import OWNERS

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_every_ecticket_operation_and_the_webhook_have_a_path() -> None:
    paths = document()["paths"]
    assert {f"/api/Ticket/{name}" for name in OWNERS} | {"/payment/ecpay/return", "/health", "/ready"} <= set(paths)


def test_the_committed_document_is_the_served_one() -> None:
    assert COMMITTED.read_text() == rendered(), "run: python -m services.gateway.openapi docs/openapi.json"
