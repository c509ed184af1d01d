"""OrderDetail (§3.12): the CSV of a merchant's orders (ReportType 1) or tickets (2) by issue date (pure)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from services.query.domain.answers import stamp, ymd
from services.query.domain.views import OrderView, TicketView

# A reply is one Kafka message, kept under the platform's 256 KiB message limit (shared.infra.messages), and its
# Data is URL-encoded (up to 3x), encrypted and base64-encoded (4/3): a report is cut, and says so (Truncated),
# at whichever limit comes first.
MAX_ROWS = 2_000
MAX_CSV_CHARS = 60_000

ORDER_COLUMNS = (
    "MerchantTradeNo",
    "FreeTradeNo",
    "TicketTradeNo",
    "Status",
    "IssueDate",
    "IssueType",
    "TradeAmount",
    "EscrowExpiredDate",
    "CreditTradeID",
)
TICKET_COLUMNS = (
    "MerchantTradeNo",
    "FreeTradeNo",
    "TicketTradeNo",
    "TicketNo",
    "WriteOffNo",
    "ItemNo",
    "ItemName",
    "TicketType",
    "TicketAmount",
    "UseStatus",
    "IssueDate",
    "StartDate",
    "ExpireDate",
    "WriteOffDate",
    "RefundDate",
    "RefundAmount",
    "RefundFee",
)


def _numbers(o: OrderView) -> list[object]:
    return ["" if o.free else o.trade_no, o.trade_no if o.free else "", o.ticket_trade_no or ""]


def order_rows(orders: Sequence[OrderView]) -> list[list[object]]:
    return [
        [
            *_numbers(o),
            int(o.status),
            stamp(o.issued_at),
            o.issue_type or "",
            o.total_face_value,
            ymd(o.escrow_expiry_date),
            o.payment_trade_no or "",
        ]
        for o in orders
    ]


def ticket_rows(tickets: Sequence[tuple[OrderView, TicketView]]) -> list[list[object]]:
    return [
        [
            *_numbers(o),
            t.ticket_no,
            t.write_off_no,
            t.item_no or "",
            t.item_name,
            int(t.ticket_type),
            t.face_value,
            int(t.status),
            stamp(o.issued_at),
            ymd(t.start_date),
            ymd(t.expire_date),
            stamp(t.written_off_at),
            stamp(t.refunded_at),
            t.refund_amount,
            t.fee,
        ]
        for o, t in tickets
    ]


def report(report_type: int, rows: Sequence[Sequence[object]]) -> dict[str, object]:
    """The file in the reply Data, cut (Truncated) where it would make the reply too large for one message."""
    columns = ORDER_COLUMNS if report_type == 1 else TICKET_COLUMNS
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    written = 0
    for row in rows:
        if written == MAX_ROWS or out.tell() >= MAX_CSV_CHARS:
            break
        writer.writerow(row)
        written += 1
    return {"ReportType": report_type, "RowCount": written, "Truncated": written < len(rows), "CsvData": out.getvalue()}
