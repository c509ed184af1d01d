"""Commands the redemption core decides on. Requests come from merchants; expiries from the scheduler."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum


class WriteOffAction(IntEnum):
    """ECTicket `Action` of /api/Ticket/WriteOff."""

    WRITE_OFF = 1
    CANCEL = 2


@dataclass(frozen=True)
class WriteOff:
    """Write off (Action 1) or cancel the write-off of (Action 2) the ticket with this WriteOffNo.

    The core names the ticket by the code's keyed hash (a bearer code is never kept or published in the clear);
    `write_off_no`, the code as the merchant sent it, is only echoed in the merchant's reply and never compared.
    """

    write_off_hash: str
    action: WriteOffAction
    store_id: str | None
    operator: str
    cancel_reason: str | None
    request_id: str
    merchant_id: str  # MerchantID of the request, already authenticated
    acting_platform_id: str | None  # PlatformID of the request, already authorised to act for merchant_id
    write_off_no: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Refund:
    """Refund (cancel=False) or cancel the refund of (cancel=True) a ticket, named by TicketNo and/or WriteOffNo
    (the code's keyed hash, as in `WriteOff`).

    ECTicket does not publish the selector field; the gateway maps `Action` "1"/absent to a refund and "2" to a
    cancel, like WriteOff (docs/redemption.md).
    """

    ticket_no: str | None
    write_off_hash: str | None
    cancel: bool
    operator: str
    request_id: str
    merchant_id: str
    acting_platform_id: str | None

    def __post_init__(self) -> None:
        if not (self.ticket_no or self.write_off_hash):
            raise ValueError("Refund needs a TicketNo or a WriteOffNo")


@dataclass(frozen=True)
class ExpireEscrow:
    """Scheduler: the escrow period of this pickup voucher may have ended."""

    ticket_no: str


@dataclass(frozen=True)
class ExpireUsage:
    """Scheduler: the usage period (ExpireDate) of this gift voucher may have ended."""

    ticket_no: str


Request = WriteOff | Refund
Command = WriteOff | Refund | ExpireEscrow | ExpireUsage
