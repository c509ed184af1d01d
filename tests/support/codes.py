"""Write-off codes as the platform keeps them (keyed hash and ciphertext), for tests that play issuance or read
the codes an event carries. The key is the services' own (ECTICKET_CODE_KEY, or the development key)."""

from __future__ import annotations

from functools import cache
from typing import Any

from shared.contracts.issuance import TicketsIssued
from shared.ecticket.write_off_codes import CodeKey
from shared.settings import Settings


@cache
def code_key() -> CodeKey:
    return CodeKey.from_hex(Settings.from_env().code_key_hex)


def protected(ticket_no: str, write_off_no: str) -> dict[str, str]:
    """The IssuedTicket fields that stand for `write_off_no`."""
    digest, sealed = code_key().protect(ticket_no, write_off_no)
    return {"write_off_hash": digest, "write_off_sealed": sealed}


def with_codes(tickets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """TicketsIssued's ticket payloads with the WriteOffNo each seals opened (as the merchant's reply lists it)."""
    key = code_key()
    return [t | {"write_off_no": key.open(t["ticket_no"], t["write_off_sealed"])} for t in tickets]


def as_issued(payload: dict[str, Any]) -> TicketsIssued:
    """The TicketsIssued of a payload `with_codes` added the opened codes to."""
    tickets = [{k: v for k, v in t.items() if k != "write_off_no"} for t in payload["tickets"]]
    return TicketsIssued.model_validate(payload | {"tickets": tickets})
