"""The reply to an Issue request, in the ECTicket response shape."""

from __future__ import annotations

from datetime import date, datetime

from services.issuance.store import OrderRow
from shared.contracts.common import IssueStatus
from shared.contracts.events import Outgoing, Producer
from shared.contracts.issuance import TicketsIssued
from shared.contracts.rtncodes import RtnCode
from shared.ecticket.replies import Addressee, reply
from shared.infra.service import Runtime

PRODUCER = Producer("issuance")


async def issue_reply(
    runtime: Runtime, row: OrderRow, issued: TicketsIssued | None, failure: tuple[RtnCode, str] | None, now: datetime
) -> Outgoing:
    signer = await runtime.merchants.lookup(row.signer_id)
    order_field = "MerchantTradeNo" if row.order and row.order.paid else "FreeTradeNo"
    status = IssueStatus.SUCCESS if issued else IssueStatus.FAILED
    extra: dict[str, object] = {order_field: row.ticket_trade_no, "Status": int(status)}
    if issued is not None:
        extra |= _ticket_data(issued)
    code, detail = failure if failure else (RtnCode.SUCCESS, None)
    to = Addressee(row.request_message_id, row.request_id, "Issue", row.merchant_id, row.platform_id, signer)
    return reply(to, code, detail, now, PRODUCER, extra=extra)


def _ticket_data(issued: TicketsIssued) -> dict[str, object]:
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
                "WriteOffNo": t.write_off_no,
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
