"""What issuance publishes (pure): TicketsIssued or IssueFailed for each decided order, IssueFailed for each payment
no request claimed, and the one ECTicket reply each Issue request gets."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import partial

from services.issuance.domain.orders import NewOrder, OrderRow, UsedOrder
from services.issuance.domain.request import Invalid
from shared.contracts.common import IssueStatus
from shared.contracts.events import Outgoing, Producer
from shared.contracts.issuance import IssueAccepted, IssueFailed, TicketsIssued
from shared.contracts.operations import OWNERS
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.replies import Addressee, reply
from shared.ecticket.write_off_codes import CodeKey
from shared.ids import derived_id
from shared.merchants.model import Merchant

PRODUCER = Producer("issuance")
ISSUE = "Issue"


def accepted(row: OrderRow, signer: Merchant | None, replied_at: datetime, now: datetime) -> list[Outgoing]:
    """The order was accepted (Status 3): its IssueAccepted, and (unless the merchant chose the outcome reply) the
    one reply to its request, at once, as ECTicket answers Issue: the data was accepted, the outcome is to be
    queried (QueryIssueResult)."""
    assert row.order is not None, "an accepted order has its request"
    order = row.order
    event = IssueAccepted(
        merchant_id=row.merchant_id,
        platform_id=row.platform_id,
        ticket_trade_no=row.ticket_trade_no,
        merchant_trade_no=row.ticket_trade_no if order.paid else None,
        free_trade_no=None if order.paid else row.ticket_trade_no,
        request_id=row.request_id,
        issue_type=order.issue_type,
        accepted_at=now,
        details=order.details,
    )
    out = [_order_event(event, row, "accepted", now)]
    if not order.outcome_reply:
        order_field = "MerchantTradeNo" if order.paid else "FreeTradeNo"
        extra: dict[str, object] = {
            order_field: row.ticket_trade_no,
            "TicketTradeNo": row.ticket_trade_no,
            "Status": int(IssueStatus.PROCESSING),
            "TicketData": [
                {"ItemNo": line.item_no or "", "ItemName": line.item_name, "TicketPrice": line.face_value,
                 "TicketAmount": line.amount}
                for line in order.lines
            ],
        }  # fmt: skip
        to = _addressee(row, signer)
        out.append(reply(to, RtnCode.SUCCESS, None, replied_at, PRODUCER, extra=extra))
    return out


def issued(
    row: OrderRow, event: TicketsIssued, signer: Merchant | None, now: datetime, code_key: CodeKey
) -> list[Outgoing]:
    """The order's tickets, and the reply that lists them (if the merchant waits for the outcome): the event keeps
    the WriteOffNo sealed, the merchant's reply (itself encrypted with the merchant's keys) carries it opened."""
    listed = partial(_ticket_data, event, code_key)  # the codes are opened only when a reply lists them
    return [_order_event(event, row, "issued", now), *_outcome_reply(row, signer, listed, None, now)]


def failed(row: OrderRow, code: RtnCode, detail: str, signer: Merchant | None, now: datetime) -> list[Outgoing]:
    """The order's failure (final: its row is failed, the order number used up), and the reply with its reason."""
    paid = bool(row.order and row.order.paid)
    event = IssueFailed(
        merchant_id=row.merchant_id,
        platform_id=row.platform_id,
        merchant_trade_no=row.ticket_trade_no if paid else None,
        free_trade_no=None if paid else row.ticket_trade_no,
        request_id=row.request_id,
        rtn_code=int(code),
        reason=detail,
        failed_at=now,
        final=True,
    )
    return [_order_event(event, row, "failed", now), *_outcome_reply(row, signer, None, (code, detail), now)]


def unclaimed(row: OrderRow, code: RtnCode, detail: str, now: datetime) -> Outgoing:
    """The final failure of an order whose payment no Issue request claimed: there is no request, so no reply, and
    an empty request_id; its id is derived from the order (it is given up once), correlated by the order key."""
    event = IssueFailed(
        merchant_id=row.merchant_id,
        platform_id=None,
        merchant_trade_no=row.ticket_trade_no,
        free_trade_no=None,
        request_id="",
        rtn_code=int(code),
        reason=detail,
        failed_at=now,
        final=True,
    )
    return PRODUCER.event(event, derived_id(f"issuance/unclaimed/{event.key()}", "failed"), now)


def invalid_request(to: Addressee, data: dict[str, object], invalid: Invalid, now: datetime) -> Outgoing:
    """The IssueFailed of a request refused before it became an order (its Data named the order numbers)."""
    failed = IssueFailed(
        merchant_id=to.merchant_id,
        platform_id=to.platform_id,
        merchant_trade_no=_text(data.get("MerchantTradeNo")),
        free_trade_no=_text(data.get("FreeTradeNo")),
        request_id=to.request_id,
        rtn_code=int(invalid.code),
        reason=invalid.detail,
        failed_at=now,
    )
    cause = to.message_id
    return PRODUCER.event(
        failed, derived_id(cause, "failed"), now, correlation_id=to.request_id, causation_id=str(cause)
    )


def invalid_reply(to: Addressee, invalid: Invalid, now: datetime) -> Outgoing:
    return reply(to, invalid.code, invalid.detail, now, PRODUCER)


def unserved_reply(to: Addressee, operation: str, now: datetime) -> Outgoing:
    """The answer to an operation nobody serves (yet), or to a name that is no ECTicket operation."""
    unknown = f"{operation!r} is {'not served yet' if operation in OWNERS else 'not an ECTicket operation'}"
    return reply(to, RtnCode.OPERATION_UNKNOWN, unknown, now, PRODUCER)


def duplicate_reply(new: NewOrder, used: UsedOrder | None, signer: Merchant | None, now: datetime) -> Outgoing:
    """The answer to a second Issue request for an order number already used (the first one stands; a failed one
    stays failed: its payment is on its way back to the consumer). `used`: the stored order, if known."""
    to = Addressee(new.message_id, new.request_id, ISSUE, new.order.merchant_id, new.platform_id, signer, new.door)
    detail = used.refusal() if used else f"order {new.order.trade_no} was already submitted"
    return reply(to, RtnCode.ORDER_DUPLICATE, detail, now, PRODUCER)


def _order_event(
    event: IssueAccepted | TicketsIssued | IssueFailed, row: OrderRow, label: str, now: datetime
) -> Outgoing:
    cause = row.request_message_id
    return PRODUCER.event(event, derived_id(cause, label), now, correlation_id=row.request_id, causation_id=str(cause))


def _outcome_reply(
    row: OrderRow,
    signer: Merchant | None,
    issued: Callable[[], dict[str, object]] | None,
    failure: tuple[RtnCode, str] | None,
    now: datetime,
) -> list[Outgoing]:
    """The reply that reports the outcome, for an order whose request was not answered at acceptance."""
    if row.order is not None and not row.order.outcome_reply:
        return []
    order_field = "MerchantTradeNo" if row.order and row.order.paid else "FreeTradeNo"
    status = IssueStatus.SUCCESS if issued is not None else IssueStatus.FAILED
    extra: dict[str, object] = {order_field: row.ticket_trade_no, "Status": int(status)}
    if issued is not None:
        extra |= issued()
    code, detail = failure if failure else (RtnCode.SUCCESS, None)
    to = _addressee(row, signer)
    return [reply(to, code, detail, now, PRODUCER, extra=extra)]


def _addressee(row: OrderRow, signer: Merchant | None) -> Addressee:
    """Who the answer to an order's Issue request goes to, as the order row keeps the request."""
    return Addressee(row.request_message_id, row.request_id, ISSUE, row.merchant_id, row.platform_id, signer, row.door)


def _ticket_data(issued: TicketsIssued, code_key: CodeKey) -> dict[str, object]:
    lines: dict[tuple[str | None, str, int], int] = {}
    for t in issued.tickets:
        key = (t.item_no, t.item_name, t.face_value)
        lines[key] = lines.get(key, 0) + 1
    return {
        "TicketTradeNo": issued.ticket_trade_no,
        "TicketData": [
            {"ItemNo": no or "", "ItemName": name, "TicketPrice": price, "TicketAmount": count}
            for (no, name, price), count in lines.items()
        ],
        "TicketList": [
            {
                "TicketNo": t.ticket_no,
                "WriteOffNo": code_key.open(t.ticket_no, t.write_off_sealed),
                "ItemNo": t.item_no or "",
                "TicketType": int(t.ticket_type),
                "StartDate": _ymd(t.start_date),
                "ExpireDate": _ymd(t.expire_date),
            }
            for t in issued.tickets
        ],
    }


def _ymd(day: date | None) -> str:
    return day.strftime("%Y%m%d") if day else ""


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
