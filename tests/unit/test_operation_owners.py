"""Each ECTicket operation has exactly one service that answers it, so every request gets exactly one reply."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.contracts.operations import OWNERS, UNSERVED_ANSWERER, owner_of, served_by

pytestmark = pytest.mark.unit

# The twelve paths of §3.0 of the ECTicket reference (../shared/docs/ecticket-api.md), in its order.
SECTION_3 = (
    "Issue", "WriteOff", "Refund", "EscrowDay", "QueryItemInfo", "BatchQueryItemInfo", "QueryIssueResult",
    "QueryPrintData", "QueryTicketStatus", "QueryRefundInfo", "QueryOrderInfo", "OrderDetail",
)  # fmt: skip
REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "docs" / "ecticket-api.md"
ANSWERING_SERVICES = ("issuance", "redemption", "query")


def test_the_owner_table_lists_exactly_the_operations_of_the_ecticket_api() -> None:
    assert tuple(OWNERS) == SECTION_3


def test_the_reference_document_still_lists_the_same_operations() -> None:
    if not REFERENCE.exists():
        pytest.skip("the ECTicket reference is not beside this checkout")
    summary = REFERENCE.read_text().split("### 3.0", 1)[1].split("### 3.1", 1)[0]
    assert tuple(re.findall(r"`/api/Ticket/(\w+)`", summary)) == SECTION_3


@pytest.mark.parametrize("operation", [*SECTION_3, "Teleport", ""])
def test_every_operation_and_every_unknown_name_is_answered_by_exactly_one_service(operation: str) -> None:
    answering = [service for service in ANSWERING_SERVICES if owner_of(operation) == service]
    assert len(answering) == 1


def test_what_no_service_serves_yet_is_answered_by_one_place_as_not_served() -> None:
    unserved = [op for op in SECTION_3 if not any(served_by(s, op) for s in ANSWERING_SERVICES)]
    assert unserved == [op for op, owner in OWNERS.items() if owner is None]
    assert {owner_of(op) for op in [*unserved, "Teleport"]} == {UNSERVED_ANSWERER}


def test_issue_belongs_to_issuance_and_write_off_and_refund_to_redemption() -> None:
    assert (owner_of("Issue"), owner_of("WriteOff"), owner_of("Refund")) == ("issuance", "redemption", "redemption")
