"""Turning the verified Data of a WriteOff or Refund request into a command for the core (pure).

WriteOff Data (docs §3.2): WriteOffNo, Action "1" write off / "2" cancel, StoreID, Operator, CancelReason.
Refund Data (docs §3.3): TicketNo and/or WriteOffNo, Operator, and `Action` "1" (or absent) refund / "2" cancel
the refund; ECTicket does not publish its selector, so we mirror WriteOff (docs/redemption.md). Action is read as
a string or an integer, since both ECTicket SDKs in the wild send either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from services.redemption.domain import Refund, Request, WriteOff, WriteOffAction
from shared.contracts.fields import LETTERS_AND_DIGITS, Printable, first_error
from shared.ecticket.write_off_codes import CodeKey

WRITE_OFF, REFUND = "WriteOff", "Refund"

# TicketNo and WriteOffNo as issuance draws them (16 and 18 letters and digits), with room for other issuers' codes.
# They are looked up and stored in indexed columns, so never arbitrary text.
CODE_PATTERN = r"^[A-Za-z0-9]{1,32}$"
_CODE = re.compile(CODE_PATTERN)


def _action_text(value: object) -> object:
    # `type(...) is int`: a bool is an int to Python, and `true` is not Action 1.
    return {1: "1", 2: "2"}.get(value, value) if type(value) is int else value


ActionText = Annotated[Literal["1", "2"], BeforeValidator(_action_text)]
Code = Annotated[str, Field(min_length=1, max_length=32, pattern=LETTERS_AND_DIGITS)]


def _blank_is_absent(value: object) -> object:
    return value or None  # ECTicket sends an unused field as ""


BlankIsAbsent = BeforeValidator(_blank_is_absent)
Code32 = Annotated[Code | None, BlankIsAbsent]
Text50 = Annotated[Annotated[Printable, Field(max_length=50)] | None, BlankIsAbsent]
Text200 = Annotated[Annotated[Printable, Field(max_length=200)] | None, BlankIsAbsent]
OperatorName = Annotated[Printable, Field(min_length=1, max_length=50)]


class WriteOffData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    WriteOffNo: Code
    Action: ActionText
    Operator: OperatorName
    StoreID: Text50 = None
    CancelReason: Text200 = None


class RefundData(BaseModel):
    model_config = ConfigDict(extra="ignore")

    TicketNo: Code32 = None
    WriteOffNo: Code32 = None
    Action: ActionText = "1"
    Operator: OperatorName


@dataclass(frozen=True)
class Invalid:
    """The Data cannot be decided on. The rest is what it seemed to ask, for the rejection event (a WriteOffNo only
    as its keyed hash)."""

    detail: str
    cancel: bool = False
    ticket_no: str | None = None
    write_off_hash: str | None = None


@dataclass(frozen=True)
class RequestedBy:
    """Who a command is for, taken from the authenticated request: what the core needs of the caller."""

    request_id: str
    merchant_id: str
    acting_platform_id: str | None


def command_from(operation: str, data: dict[str, Any], caller: RequestedBy, key: CodeKey) -> Request | Invalid:
    """`key` hashes the WriteOffNo: the core and everything downstream know the code only by its keyed hash."""
    try:
        if operation == WRITE_OFF:
            return _write_off(WriteOffData.model_validate(data), caller, key)
        return _refund(RefundData.model_validate(data), caller, key)
    except ValidationError as exc:
        return _invalid(first_error(exc), data, key)
    except ValueError as exc:  # the command's own invariant (a Refund naming no ticket)
        return _invalid(str(exc), data, key)


def _invalid(detail: str, data: dict[str, Any], key: CodeKey) -> Invalid:
    def given(name: str) -> str | None:
        # Only a plausible code is repeated in the rejection event: anything else could be any text at all.
        value = data.get(name)
        return value if isinstance(value, str) and _CODE.fullmatch(value) else None

    code = given("WriteOffNo")
    hashed = key.digest(code) if code else None
    return Invalid(detail, data.get("Action") in ("2", 2), given("TicketNo"), hashed)


def _write_off(data: WriteOffData, caller: RequestedBy, key: CodeKey) -> WriteOff:
    return WriteOff(
        write_off_hash=key.digest(data.WriteOffNo),
        action=WriteOffAction(int(data.Action)),
        store_id=data.StoreID,
        operator=data.Operator,
        cancel_reason=data.CancelReason,
        request_id=caller.request_id,
        merchant_id=caller.merchant_id,
        acting_platform_id=caller.acting_platform_id,
        write_off_no=data.WriteOffNo,
    )


def _refund(data: RefundData, caller: RequestedBy, key: CodeKey) -> Refund:
    return Refund(
        ticket_no=data.TicketNo,
        write_off_hash=key.digest(data.WriteOffNo) if data.WriteOffNo else None,
        cancel=data.Action == "2",
        operator=data.Operator,
        request_id=caller.request_id,
        merchant_id=caller.merchant_id,
        acting_platform_id=caller.acting_platform_id,
    )
