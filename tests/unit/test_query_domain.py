"""The query side's pure core: reading requests, paging, and the reply Data built from the read models."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from services.query.domain import answers, order_detail
from services.query.domain.changes import change_of
from services.query.domain.paging import TICKETS_PER_PAGE, Page
from services.query.domain.queries import ItemPageQuery, OrderDetailQuery, OrderQuery, TicketQuery
from services.query.domain.views import Counts, OrderView, RefundTransfer, TicketView, status_after_failure
from services.query.domain.watermark import reached
from services.query.inbound import Invalid, query_from
from shared.contracts.common import IssueStatus, TicketType, UseStatus
from shared.contracts.redemption import RefundCancelled, TicketRefunded

pytestmark = pytest.mark.unit

ISSUED_AT = datetime(2026, 3, 2, 7, 30, tzinfo=UTC)  # 15:30 in Taipei


def order(**changes: object) -> OrderView:
    fields: dict[str, object] = dict(
        merchant_id="3085676", trade_no="ORD1", free=False, platform_id=None, status=IssueStatus.SUCCESS,
        rtn_code=1, remark="", ticket_trade_no="ORD1", issue_type="3", issued_at=ISSUED_AT,
        escrow_expiry_date=date(2026, 5, 31), total_face_value=1000, payment_trade_no="2603021530001",
    )  # fmt: skip
    return OrderView(**(fields | changes))  # type: ignore[arg-type]


def ticket(no: str, status: UseStatus = UseStatus.UNUSED, **changes: object) -> TicketView:
    fields: dict[str, object] = dict(
        ticket_no=no, write_off_no="W" + no, trade_no="ORD1", ticket_type=TicketType.PICKUP, item_no="PU000500",
        item_name="Afternoon tea set", face_value=500, start_date=None, expire_date=None, status=status,
        written_off_at=None, refunded_at=None, expired_at=None, fee=0, refund_amount=0,
    )  # fmt: skip
    return TicketView(**(fields | changes))  # type: ignore[arg-type]


def test_a_ticket_is_asked_for_by_its_ticket_number_or_write_off_code_an_empty_one_counting_as_absent() -> None:
    assert query_from("QueryTicketStatus", {"TicketNo": "T1", "WriteOffNo": ""}) == TicketQuery("T1", None)
    assert query_from("QueryTicketStatus", {"TicketNo": "", "WriteOffNo": "W1"}) == TicketQuery(None, "W1")
    assert isinstance(query_from("QueryTicketStatus", {"TicketNo": "", "WriteOffNo": ""}), Invalid)


def test_an_order_query_needs_exactly_one_order_number_of_letters_and_digits() -> None:
    assert query_from("QueryIssueResult", {"FreeTradeNo": "G1"}) == OrderQuery("QueryIssueResult", "G1", True)
    for bad in ({}, {"MerchantTradeNo": "A", "FreeTradeNo": "B"}, {"MerchantTradeNo": "A'; --"}):
        assert isinstance(query_from("QueryIssueResult", bad), Invalid)


def test_order_info_and_ticket_status_by_order_page_200_tickets_from_page_1() -> None:
    query = query_from("QueryOrderInfo", {"MerchantTradeNo": "A", "PageNum": 3})
    assert isinstance(query, OrderQuery) and query.page == Page(3, TICKETS_PER_PAGE)
    assert query.page.offset == 400
    by_order = query_from("QueryTicketStatus", {"MerchantTradeNo": "A"})
    assert isinstance(by_order, OrderQuery) and by_order.page == Page(1, 200)
    assert isinstance(query_from("QueryOrderInfo", {"MerchantTradeNo": "A", "PageNum": 0}), Invalid)
    assert isinstance(query_from("QueryOrderInfo", {"MerchantTradeNo": "A", "PageNum": "2"}), Invalid)


def test_a_page_count_covers_every_ticket_and_an_empty_order_has_one_empty_page() -> None:
    assert [Page(1, 200).total_pages(n) for n in (0, 1, 200, 201, 450)] == [1, 1, 1, 2, 3]


def test_refund_info_is_only_for_paid_orders() -> None:
    assert isinstance(query_from("QueryRefundInfo", {"FreeTradeNo": "G1"}), Invalid)


def test_item_pages_and_order_detail_read_their_selectors() -> None:
    items = query_from("BatchQueryItemInfo", {"PageNum": 2, "ItemStatus": "0", "ItemList": [{"ItemNo": "PU000500"}]})
    assert items == ItemPageQuery(Page(2, 20), False, ("PU000500",))
    detail = query_from("OrderDetail", {"ReportType": 2, "BeginDate": "20260301", "EndDate": "20260331"})
    assert detail == OrderDetailQuery(2, date(2026, 3, 1), date(2026, 3, 31))
    assert isinstance(
        query_from("OrderDetail", {"ReportType": 1, "BeginDate": "20260301", "EndDate": "20260401"}), Invalid
    )


def test_an_issued_order_stays_issued_whatever_failure_comes_after() -> None:
    assert status_after_failure(IssueStatus.SUCCESS, final=True) is IssueStatus.SUCCESS
    assert status_after_failure(None, final=False) is IssueStatus.FAILED
    assert status_after_failure(IssueStatus.PROCESSING, final=True) is IssueStatus.FAILED
    assert status_after_failure(IssueStatus.PROCESSING, final=False) is IssueStatus.PROCESSING


def test_the_issue_result_gives_back_every_ticket_and_the_product_lines() -> None:
    data = answers.issue_result(order(), [ticket("T1"), ticket("T2")])
    assert (data["MerchantTradeNo"], data["Status"], data["TicketTradeNo"]) == ("ORD1", 1, "ORD1")
    assert data["TicketData"] == [{"ItemNo": "PU000500", "ItemName": "Afternoon tea set", "TicketPrice": 500,
                                   "TicketAmount": 2}]  # fmt: skip
    assert [t["TicketNo"] for t in data["TicketList"]] == ["T1", "T2"]


def test_a_failed_issue_result_names_its_reason_and_no_tickets() -> None:
    data = answers.issue_result(order(free=True, status=IssueStatus.FAILED, remark="ItemNo is delisted",
                                      ticket_trade_no=None), [])  # fmt: skip
    assert data == {"FreeTradeNo": "ORD1", "Status": 2, "Remark": "ItemNo is delisted"}


def test_print_data_leaves_out_used_tickets() -> None:
    data = answers.print_data(order(), [ticket("T1", UseStatus.WRITTEN_OFF), ticket("T2")])
    assert [t["TicketNo"] for t in data["TicketList"]] == ["T2"]


def test_dates_are_written_as_ecticket_writes_them_in_taipei_time() -> None:
    data = answers.ticket_status(ticket("T1", UseStatus.WRITTEN_OFF, written_off_at=ISSUED_AT,
                                        expire_date=date(2026, 4, 1)))  # fmt: skip
    assert (data["WriteOffDate"], data["ExpiredDate"], data["RefundDate"]) == ("2026/03/02 15:30:00", "20260401", "")


def test_refund_info_sums_the_money_back_and_the_fees_of_refunded_tickets_only() -> None:
    refunded = ticket("T1", UseStatus.REFUNDED, refunded_at=ISSUED_AT, fee=50, refund_amount=450)
    data = answers.refund_info(order(), [refunded, ticket("T2")])
    assert (data["RefundCount"], data["RefundAmount"], data["TotalRefundFee"]) == (1, 450, 50)
    assert [r["TicketNo"] for r in data["RefundList"]] == ["T1"]


def test_order_info_reports_totals_over_every_ticket_beside_one_page() -> None:
    counts = Counts(total=450, total_amount=225000, unused=449, unused_amount=224500, redeemed=1, redeemed_amount=500)
    data = answers.order_info(order(), counts, Page(3, 200), [ticket("T401")])
    assert (data["TotalCount"], data["UnUsedCount"], data["RedeemAmount"], data["TotalPage"]) == (450, 449, 500, 3)
    assert (data["IssueDate"], data["EscrowExpiredDate"], data["PageNum"]) == ("2026/03/02 15:30:00", "20260531", 3)


def test_a_cancelled_refund_makes_the_ticket_unused_again_and_clears_its_money() -> None:
    common = dict(merchant_id="M", platform_id=None, ticket_trade_no="O", merchant_trade_no="O", free_trade_no=None,
                  ticket_no="T", write_off_hash="H", ticket_type=TicketType.PICKUP, face_value=500,
                  escrow_expiry_date=date(2026, 5, 31), within_escrow=True, request_id="R", at=ISSUED_AT,
                  operator="desk", fee=50, refund_amount=450)  # fmt: skip
    refunded = change_of(TicketRefunded(**common))
    assert (refunded.status, refunded.fee, refunded.refund_amount) == (UseStatus.REFUNDED, 50, 450)
    cancelled = change_of(RefundCancelled(**common, refunded_at=ISSUED_AT))
    assert (cancelled.status, cancelled.clear_refund) == (UseStatus.UNUSED, True)


def test_a_query_waits_until_every_event_partition_is_applied_up_to_its_watermark() -> None:
    watermark = {"ecticket.redemption.events.v1/0": 10, "ecticket.issuance.events.v1/3": 4}
    assert not reached(watermark, {"ecticket.redemption.events.v1/0": 10})  # a partition not applied at all
    assert not reached(watermark, {"ecticket.redemption.events.v1/0": 9, "ecticket.issuance.events.v1/3": 4})
    assert reached(watermark, {"ecticket.redemption.events.v1/0": 12, "ecticket.issuance.events.v1/3": 4})
    assert reached({}, {})


def test_refund_info_reports_only_what_the_bank_confirmed_as_confirmed() -> None:
    refunded = ticket("T1", UseStatus.REFUNDED, refunded_at=ISSUED_AT, fee=50, refund_amount=450)
    transfers = [RefundTransfer(450, date(2026, 3, 2), "rejected", ISSUED_AT),
                 RefundTransfer(450, date(2026, 3, 3), "confirmed", ISSUED_AT), RefundTransfer(90, None, "instructed", None)]  # fmt: skip
    data = answers.refund_info(order(), [refunded], transfers)
    assert data["BankConfirmedAmount"] == 450
    assert [t["Status"] for t in data["BankTransferList"]] == ["rejected", "confirmed", "instructed"]


def test_an_order_detail_file_too_large_for_one_reply_is_cut_and_says_so() -> None:
    rows = [[f"ORD{n:05d}", "", f"ORD{n:05d}", 1, "2026/03/02 15:30:00", "3", 500, "20260531", ""] for n in range(3000)]
    small = order_detail.report(1, rows[:3])
    assert (small["RowCount"], small["Truncated"]) == (3, False)
    assert str(small["CsvData"]).splitlines()[1] == "ORD00000,,ORD00000,1,2026/03/02 15:30:00,3,500,20260531,"
    cut = order_detail.report(1, rows)
    assert cut["Truncated"] is True and 0 < int(str(cut["RowCount"])) < 3000
    assert len(str(cut["CsvData"])) <= order_detail.MAX_CSV_CHARS + 200
