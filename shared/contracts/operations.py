"""Which service answers which ECTicket operation: the one table every service reads.

Every request on `ecticket.ingest.requests.v1` is read by every service that answers requests, and each answers
exactly the operations this table gives it, so a request gets exactly one reply. The operations of the ECTicket API
(§3 of the reference) that no service serves yet, and names that are no operation at all, are answered by one
service, `UNSERVED_ANSWERER`, with RtnCode 1005.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from shared.contracts.ingest import IngestRequest

ISSUANCE: Final = "issuance"
REDEMPTION: Final = "redemption"
QUERY: Final = "query"
NOT_SERVED_YET: Final = None

# §3.0 of the ECTicket reference, in its order: the operation (the last part of `/api/Ticket/<Operation>`) and the
# service that answers it.
OWNERS: Final[dict[str, str | None]] = {
    "Issue": ISSUANCE,
    "WriteOff": REDEMPTION,
    "Refund": REDEMPTION,
    "EscrowDay": QUERY,
    "QueryItemInfo": QUERY,
    "BatchQueryItemInfo": QUERY,
    "QueryIssueResult": QUERY,
    "QueryPrintData": QUERY,
    "QueryTicketStatus": QUERY,
    "QueryRefundInfo": QUERY,
    "QueryOrderInfo": QUERY,
    "OrderDetail": QUERY,
}

# Answers, with RtnCode 1005, an operation served by nobody (yet) and a name that is no operation.
UNSERVED_ANSWERER: Final = ISSUANCE


def owner_of(operation: str) -> str:
    """The one service that replies to a request for `operation`."""
    return OWNERS.get(operation) or UNSERVED_ANSWERER


def served_by(service: str, operation: str) -> bool:
    """True when `service` serves `operation` itself (not merely answers it as not served)."""
    return OWNERS.get(operation) == service


def answered_by(service: str) -> Callable[[IngestRequest], bool]:
    """A route's `wanted` for the ingestion topic: the requests `service` replies to, and no others."""
    return lambda request: owner_of(request.operation) == service
