"""The notification service's pure rules: which events notify what, when, to where, and what counts as an ack."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta

import pytest

from services.notification.domain.acks import Acknowledged, NotAcknowledged, acknowledgement
from services.notification.domain.notices import Kind, refund_notice, use_status_notice
from services.notification.domain.schedule import first_due, too_old
from services.notification.domain.targets import Refused, Target, address_allowed, check_url
from services.notification.inbound import OrderTargets
from services.notification.outbound import Destination, destination, request_body
from shared.clock import TAIPEI
from shared.contracts.common import TicketType
from shared.contracts.redemption import (
    ExpiryKind,
    RefundCancelled,
    TicketExpired,
    TicketRefunded,
    TicketWrittenOff,
    WriteOffCancelled,
)
from shared.contracts.settlement import TransferConfirmed, TransferKind
from shared.ecticket.envelope import OpenedData, RequestEnvelope, open_request, seal_response
from shared.merchants.model import Merchant, MerchantRecord, Mode, NotifyAck, NotifySchedule
from shared.merchants.sealing import MerchantSecrets, seal

KEY, IV = "7b53896b742849d3", "37a0ad3c6ffa428b"
AT = datetime(2026, 11, 28, 6, 30, 5, tzinfo=UTC)  # 14:30:05 in Taipei
EVENT = uuid.UUID("3a1f4c2e-0000-4000-8000-000000000001")
COMMON = {
    "merchant_id": "3085676", "platform_id": None, "ticket_trade_no": "F1", "merchant_trade_no": None,
    "free_trade_no": "F1", "ticket_no": "T1", "write_off_hash": "H1", "ticket_type": TicketType.GIFT, "face_value": 0,
    "escrow_expiry_date": None, "within_escrow": False, "request_id": "R1", "at": AT,
}  # fmt: skip


def test_every_change_of_use_status_is_notified_with_the_status_after_it() -> None:
    events = [
        TicketWrittenOff(**COMMON, store_id=None, operator="o"),
        WriteOffCancelled(**COMMON, written_off_at=AT, operator="o", cancel_reason=None),
        TicketRefunded(**COMMON, fee=0, refund_amount=0, operator="o"),
        RefundCancelled(**COMMON, refunded_at=AT, fee=0, refund_amount=0, operator="o"),
        TicketExpired(**COMMON, kind=ExpiryKind.USAGE),
    ]
    statuses = []
    for event in events:
        notice = use_status_notice(EVENT, event)
        assert notice is not None
        statuses.append(notice.data["UseStatus"])
    assert statuses == [2, 1, 3, 1, 4]


def test_a_use_status_notification_names_the_order_and_ticket_and_carries_its_stable_id() -> None:
    notice = use_status_notice(EVENT, TicketWrittenOff(**COMMON, store_id=None, operator="o"))
    assert notice is not None and notice.kind is Kind.USE_STATUS
    assert notice.data == {
        "MerchantID": "3085676", "FreeTradeNo": "F1", "TicketTradeNo": "F1", "TicketNo": "T1", "UseStatus": 2,
        "StatusTime": "2026/11/28 14:30:05", "NotificationID": str(notice.notification_id),
    }  # fmt: skip
    again = use_status_notice(EVENT, TicketWrittenOff(**COMMON, store_id="S", operator="other"))
    assert again is not None and again.notification_id == notice.notification_id  # from the event id alone


def test_a_pickup_vouchers_escrow_expiry_changes_no_status_and_is_not_notified() -> None:
    assert use_status_notice(EVENT, TicketExpired(**COMMON, kind=ExpiryKind.ESCROW)) is None


def test_the_refund_result_is_the_banks_confirmed_refund_transfer() -> None:
    common = {"instruction_id": uuid.uuid4(), "merchant_id": "3085676", "ticket_trade_no": "M1", "amount": 900,
              "at": AT}  # fmt: skip
    notice = refund_notice(EVENT, TransferConfirmed(**common, transfer=TransferKind.REFUND))
    assert notice is not None and notice.kind is Kind.REFUND
    assert notice.data == {
        "MerchantID": "3085676", "MerchantTradeNo": "M1", "TicketTradeNo": "M1", "RefundAmount": 900,
        "Remark": "refund transferred to the consumer", "RefundTime": "2026/11/28 14:30:05",
        "NotificationID": str(notice.notification_id),
    }  # fmt: skip
    payout = {**common, "ticket_trade_no": None}
    assert refund_notice(EVENT, TransferConfirmed(**payout, transfer=TransferKind.PAYOUT)) is None
    use_status = use_status_notice(EVENT, TicketWrittenOff(**COMMON, store_id=None, operator="o"))
    assert use_status is not None and use_status.notification_id != notice.notification_id


def test_an_immediate_merchant_is_due_at_once_and_a_daily_one_at_its_next_batch() -> None:
    assert first_due(NotifySchedule.IMMEDIATE, AT) == AT
    morning = datetime(2026, 11, 28, 8, 59, tzinfo=TAIPEI).astimezone(UTC)
    assert first_due(NotifySchedule.DAILY, morning) == datetime(2026, 11, 28, 9, 0, tzinfo=TAIPEI)
    assert first_due(NotifySchedule.DAILY, AT) == datetime(2026, 11, 29, 9, 0, tzinfo=TAIPEI)
    nine = datetime(2026, 11, 28, 9, 0, tzinfo=TAIPEI)
    assert first_due(NotifySchedule.DAILY, nine) == datetime(2026, 11, 29, 9, 0, tzinfo=TAIPEI)
    assert first_due(NotifySchedule.DAILY, AT, time(18, 30)) == datetime(2026, 11, 28, 18, 30, tzinfo=TAIPEI)


def test_events_older_than_the_limit_are_not_notified() -> None:
    assert too_old(AT - timedelta(hours=73), AT, timedelta(hours=72))
    assert not too_old(AT - timedelta(hours=71), AT, timedelta(hours=72))


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/n", "https://10.0.0.8/n", "https://172.16.3.4/n", "https://192.168.1.1/n",
        "https://169.254.169.254/latest", "https://100.64.0.1/n", "https://0.0.0.0/n", "https://[::1]/n",
        "https://[fd00::1]/n", "https://[fe80::1]/n", "https://[::ffff:127.0.0.1]/n", "https://224.0.0.1/n",
        "https://255.255.255.255/n",
    ],
)  # fmt: skip
def test_a_production_merchant_may_not_target_a_private_or_loopback_address(url: str) -> None:
    verdict = check_url(url, sandbox=False)
    assert isinstance(verdict, Refused) and "not a public address" in verdict.reason
    assert isinstance(check_url(url.replace("https", "http"), sandbox=True), Target)  # the sandbox may


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://shop.example.com/n", "scheme must be https"), ("ftp://shop.example.com/n", "scheme must be https"),
        ("https:///n", "no host"), ("https://user:pw@shop.example.com/n", "credentials"),
        ("https://shop.example.com:99999/n", "not a URL"), ("https://shop.example.com/" + "a" * 3000, "longer"),
    ],
)  # fmt: skip
def test_a_production_target_must_be_a_plain_https_url(url: str, reason: str) -> None:
    verdict = check_url(url, sandbox=False)
    assert isinstance(verdict, Refused) and reason in verdict.reason


def test_public_targets_pass_and_host_names_are_left_to_the_resolvers_check() -> None:
    assert check_url("https://8.8.8.8/n", sandbox=False) == Target("https://8.8.8.8/n", "8.8.8.8", True)
    named = check_url("https://shop.example.com/notify?x=1", sandbox=False)
    assert isinstance(named, Target) and not named.ip_literal
    assert address_allowed("93.184.216.34", sandbox=False) and address_allowed("2606:4700::1111", sandbox=False)
    assert not address_allowed("127.0.0.1", sandbox=False) and not address_allowed("not-an-ip", sandbox=False)
    assert address_allowed("127.0.0.1", sandbox=True)


def envelope_answer(rtn_code: object, trans_code: int = 1, key: str = KEY) -> bytes:
    sealed = seal_response({"RtnCode": rtn_code, "RtnMsg": "OK"}, "3085676", None, key, IV, 1764311405,
                           trans_code=trans_code)  # fmt: skip
    return json.dumps(sealed.to_wire()).encode()


def test_the_response_envelope_with_rtn_code_1_acknowledges() -> None:
    assert isinstance(acknowledgement(200, envelope_answer(1), NotifyAck.ENVELOPE, KEY, IV), Acknowledged)


@pytest.mark.parametrize(
    ("status", "body", "detail"),
    [
        (200, envelope_answer(0), "RtnCode 0"), (200, envelope_answer("1"), "RtnCode '1'"),
        (200, envelope_answer(True), "RtnCode True"), (200, envelope_answer(1, trans_code=9), "TransCode 9"),
        (200, envelope_answer(1, key="0123456789abcdef"), "refused"), (500, envelope_answer(1), "HTTP 500"),
        (200, b"1|OK", "not a response envelope"), (200, b'{"RtnCode": 1}', "field errors"),
        (200, b"x" * 70_000, "longer than"),
    ],
)  # fmt: skip
def test_anything_else_is_not_an_acknowledgement_by_default(status: int, body: bytes, detail: str) -> None:
    verdict = acknowledgement(status, body, NotifyAck.ENVELOPE, KEY, IV)
    assert isinstance(verdict, NotAcknowledged) and detail in verdict.detail
    assert KEY not in verdict.detail and IV not in verdict.detail


@pytest.mark.parametrize("body", [b"1|OK", b"1|OK\r\n", b'{"RtnCode": 1}', b'{"RtnCode": "1"}', envelope_answer(1)])
def test_a_lenient_merchant_may_also_answer_1_ok(body: bytes) -> None:
    assert isinstance(acknowledgement(200, body, NotifyAck.LENIENT, KEY, IV), Acknowledged)


@pytest.mark.parametrize("body", [b"0|fail", b"1|ok then", b'{"RtnCode": 0}', b'{"RtnCode": true}', b"", b"[1]"])
def test_a_lenient_merchant_still_must_say_1(body: bytes) -> None:
    assert isinstance(acknowledgement(200, body, NotifyAck.LENIENT, KEY, IV), NotAcknowledged)


def record(**fields: object) -> MerchantRecord:
    keys = MerchantSecrets.model_validate({"ticket_hash_key": KEY, "ticket_hash_iv": IV, "payment_hash_key": KEY,
                                           "payment_hash_iv": IV})  # fmt: skip
    base = {"merchant_id": "3085676", "name": "m", "mode": Mode.SANDBOX, "updated_at": AT,
            "secrets": seal(keys, "3085676", "00" * 32)}  # fmt: skip
    return MerchantRecord.model_validate(base | fields)


def test_the_issue_requests_url_wins_over_the_merchants_and_is_sealed_for_the_platform_that_sent_it() -> None:
    merchant = record(use_status_notify_url="https://m.example/us", refund_notify_url="https://m.example/rf")
    via_platform = OrderTargets("3085676", "M1", "3085672", "https://p.example/rf", None)
    assert destination(Kind.REFUND, via_platform, merchant) == Destination("https://p.example/rf", "3085672")
    assert destination(Kind.USE_STATUS, via_platform, merchant) == Destination("https://m.example/us", None)
    assert destination(Kind.USE_STATUS, None, merchant) == Destination("https://m.example/us", None)
    own = OrderTargets("3085676", "M1", None, None, "https://m.example/order")
    assert destination(Kind.USE_STATUS, own, merchant) == Destination("https://m.example/order", None)
    assert destination(Kind.REFUND, own, record()) is None


def test_the_request_a_merchant_receives_is_the_sealed_request_envelope() -> None:
    merchant = Merchant(record(), MerchantSecrets.model_validate(
        {"ticket_hash_key": KEY, "ticket_hash_iv": IV, "payment_hash_key": KEY, "payment_hash_iv": IV}))  # fmt: skip
    data = '{"MerchantID":"3085676","UseStatus":2,"ItemName":"A B~!"}'
    body = request_body(data, "3085676", None, merchant, 1764311405)
    assert KEY.encode() not in body and IV.encode() not in body and b"UseStatus" not in body
    opened = open_request(RequestEnvelope.model_validate_json(body), KEY, IV, 1764311405)
    assert isinstance(opened, OpenedData) and opened.plaintext == data
    assert "PlatformID" not in json.loads(body)
