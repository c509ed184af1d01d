"""The redemption state machine (services.redemption.domain.decide): table, rules, boundaries, properties."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from services.redemption.domain import (
    Command,
    Decision,
    ExpireEscrow,
    ExpireUsage,
    Refund,
    Ticket,
    WriteOff,
    WriteOffAction,
    decide,
    tickets_from_issued,
)
from shared.clock import TAIPEI, end_of_business_day, start_of_business_day
from shared.contracts.common import FeeKind, RefundFeeRule, TicketType, UseStatus, order_key
from shared.contracts.events import payload_of, wrap
from shared.contracts.issuance import IssuedTicket, TicketsIssued
from shared.contracts.redemption import (
    ExpiryKind,
    RedemptionRejected,
    RefundCancelled,
    TicketExpired,
    TicketRefunded,
    TicketWrittenOff,
    WriteOffCancelled,
)
from shared.contracts.rtncodes import RtnCode

pytestmark = pytest.mark.unit

MERCHANT, OTHER_MERCHANT, PLATFORM, POS_PLATFORM = "3362787", "2000132", "3085672", "3999999"
START = date(2024, 6, 1)
GIFT_EXPIRES = date(2024, 7, 31)
ESCROW_LAST_DAY = date(2024, 8, 30)
NOW = datetime(2024, 6, 10, 12, 0, tzinfo=TAIPEI)  # started, within escrow, gift not expired
LATER = datetime(2024, 9, 2, 12, 0, tzinfo=TAIPEI)  # after escrow and after the gift's ExpireDate
TEN_PERCENT = RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000)
_request_ids = itertools.count()


def _issued(*, escrow: date | None = ESCROW_LAST_DAY, fee_rule: RefundFeeRule = TEN_PERCENT) -> TicketsIssued:
    def line(no: str, kind: TicketType, face: int) -> IssuedTicket:
        return IssuedTicket(
            ticket_no=f"TN{no}", write_off_hash=f"WO{no}", write_off_sealed=f"v1.S{no}", ticket_type=kind, item_no="CHF80957", item_name="Tea",
            face_value=face, start_date=START, expire_date=GIFT_EXPIRES, refund_fee_rule=fee_rule,
        )  # fmt: skip

    return TicketsIssued(
        merchant_id=MERCHANT, platform_id=PLATFORM, ticket_trade_no="ORD1", merchant_trade_no="ORD1",
        free_trade_no=None, request_id="issue-1", issue_type="3", issued_at=datetime(2024, 5, 20, tzinfo=TAIPEI),
        payment=None, escrow_days=90, escrow_expiry_date=escrow, total_face_value=1000,
        tickets=(line("P", TicketType.PICKUP, 1000), line("G", TicketType.GIFT, 0)),
    )  # fmt: skip


def _ticket(kind: TicketType = TicketType.PICKUP, status: UseStatus = UseStatus.UNUSED) -> Ticket:
    pickup, gift = tickets_from_issued(_issued())
    ticket = replace(pickup if kind is TicketType.PICKUP else gift, status=status)
    done_at = NOW - timedelta(hours=1)  # earlier the same business day: cancels are allowed
    if status is UseStatus.WRITTEN_OFF:
        return replace(ticket, written_off_at=done_at)
    return replace(ticket, refunded_at=done_at) if status is UseStatus.REFUNDED else ticket


def _write_off(
    cancel: bool = False, merchant: str = MERCHANT, no: str = "WOP", platform: str | None = None
) -> WriteOff:
    action = WriteOffAction.CANCEL if cancel else WriteOffAction.WRITE_OFF
    return WriteOff(no, action, "S1", "op1", "typo" if cancel else None, f"r{next(_request_ids)}", merchant, platform)


def _refund(
    cancel: bool = False, merchant: str = MERCHANT, ticket_no: str | None = "TNP", write_off_no: str = ""
) -> Refund:
    return Refund(ticket_no, write_off_no, cancel, "op1", f"r{next(_request_ids)}", merchant, None)


def _request(name: str, ticket: Ticket, merchant: str = MERCHANT) -> Command:
    cancel = name.startswith("cancel")
    if name.endswith("write_off"):
        return _write_off(cancel=cancel, merchant=merchant, no=ticket.write_off_hash)
    if name.endswith("refund"):
        return _refund(cancel=cancel, merchant=merchant, ticket_no=ticket.ticket_no)
    return ExpireEscrow(ticket.ticket_no) if name == "expire_escrow" else ExpireUsage(ticket.ticket_no)


def _outcome(decision: Decision) -> str:
    if decision.rejection is not None:
        return decision.rejection.rtn_code.name
    return " + ".join(event.event_type for event in decision.events) or "no-op"


# --- the transition table: every status × every request -> outcome ---------------------------------------------

P, G = TicketType.PICKUP, TicketType.GIFT
U, W, R, X = UseStatus.UNUSED, UseStatus.WRITTEN_OFF, UseStatus.REFUNDED, UseStatus.EXPIRED
REQUESTS_TABLE = [  # at NOW: started, within escrow, gift not expired; 2 and 3 happened earlier that day
    (P, U, "write_off", W, "TicketWrittenOff"), (P, U, "cancel_write_off", U, "WRITE_OFF_CANCEL_NOT_ALLOWED"),
    (P, U, "refund", R, "TicketRefunded"), (P, U, "cancel_refund", U, "REFUND_CANCEL_NOT_ALLOWED"),
    (P, W, "write_off", W, "TICKET_ALREADY_WRITTEN_OFF"), (P, W, "cancel_write_off", U, "WriteOffCancelled"),
    (P, W, "refund", W, "REFUND_OF_WRITTEN_OFF"), (P, W, "cancel_refund", W, "REFUND_CANCEL_NOT_ALLOWED"),
    (P, R, "write_off", R, "TICKET_ALREADY_REFUNDED"), (P, R, "cancel_write_off", R, "WRITE_OFF_CANCEL_NOT_ALLOWED"),
    (P, R, "refund", R, "TICKET_ALREADY_REFUNDED"), (P, R, "cancel_refund", U, "RefundCancelled"),
    (G, U, "write_off", W, "TicketWrittenOff"), (G, U, "cancel_write_off", U, "WRITE_OFF_CANCEL_NOT_ALLOWED"),
    (G, U, "refund", R, "TicketRefunded"), (G, U, "cancel_refund", U, "REFUND_CANCEL_NOT_ALLOWED"),
    (G, W, "write_off", W, "TICKET_ALREADY_WRITTEN_OFF"), (G, W, "cancel_write_off", U, "WriteOffCancelled"),
    (G, W, "refund", W, "REFUND_OF_WRITTEN_OFF"), (G, W, "cancel_refund", W, "REFUND_CANCEL_NOT_ALLOWED"),
    (G, R, "write_off", R, "TICKET_ALREADY_REFUNDED"), (G, R, "cancel_write_off", R, "WRITE_OFF_CANCEL_NOT_ALLOWED"),
    (G, R, "refund", R, "TICKET_ALREADY_REFUNDED"), (G, R, "cancel_refund", U, "RefundCancelled"),
    (G, X, "write_off", X, "TICKET_EXPIRED"), (G, X, "cancel_write_off", X, "WRITE_OFF_CANCEL_NOT_ALLOWED"),
    (G, X, "refund", X, "TICKET_EXPIRED"), (G, X, "cancel_refund", X, "REFUND_CANCEL_NOT_ALLOWED"),
]  # fmt: skip
EXPIRY_TABLE = [  # at LATER: both the escrow period and the gift's usage period are over
    (P, U, "expire_escrow", U, "TicketExpired"), (P, U, "expire_usage", U, "no-op"),
    (P, W, "expire_escrow", W, "no-op"), (P, W, "expire_usage", W, "no-op"),
    (P, R, "expire_escrow", R, "no-op"), (P, R, "expire_usage", R, "no-op"),
    (G, U, "expire_escrow", U, "no-op"), (G, U, "expire_usage", X, "TicketExpired"),
    (G, W, "expire_escrow", W, "no-op"), (G, W, "expire_usage", W, "no-op"),
    (G, R, "expire_escrow", R, "no-op"), (G, R, "expire_usage", R, "no-op"),
    (G, X, "expire_escrow", X, "no-op"), (G, X, "expire_usage", X, "no-op"),
]  # fmt: skip


def _ids(row: tuple[TicketType, UseStatus, str, UseStatus, str]) -> str:
    return f"{row[0].name}-{row[1].name}-{row[2]}"


@pytest.mark.parametrize("row", REQUESTS_TABLE, ids=_ids)
def test_each_status_and_request_leads_to_the_tabled_outcome(
    row: tuple[TicketType, UseStatus, str, UseStatus, str],
) -> None:
    kind, status, request, expected_status, expected = row
    ticket = _ticket(kind, status)
    decision = decide(ticket, _request(request, ticket), NOW)
    assert (_outcome(decision), decision.ticket and decision.ticket.status) == (expected, expected_status)


@pytest.mark.parametrize("row", EXPIRY_TABLE, ids=_ids)
def test_each_status_and_expiry_leads_to_the_tabled_outcome(
    row: tuple[TicketType, UseStatus, str, UseStatus, str],
) -> None:
    kind, status, request, expected_status, expected = row
    ticket = _ticket(kind, status)
    decision = decide(ticket, _request(request, ticket), LATER)
    assert (_outcome(decision), decision.ticket and decision.ticket.status) == (expected, expected_status)


def test_the_tables_cover_every_status_of_every_ticket_type_with_every_request() -> None:
    requests = {"write_off", "cancel_write_off", "refund", "cancel_refund"}
    covered = {(k, s, r) for k, s, r, _, _ in REQUESTS_TABLE}
    assert covered == {(k, s, r) for k in (P, G) for s in ((U, W, R) if k is P else (U, W, R, X)) for r in requests}
    assert {(k, s, r) for k, s, r, _, _ in EXPIRY_TABLE} == {
        (k, s, r) for k, s, _, _, _ in REQUESTS_TABLE for r in ("expire_escrow", "expire_usage")
    }


# --- who may act on a ticket ------------------------------------------------------------------------------------


def test_an_unknown_ticket_is_not_found_and_no_state_is_invented() -> None:
    decision = decide(None, _write_off(), NOW)
    assert decision.ticket is None
    assert decision.rtn_code is RtnCode.TICKET_NOT_FOUND


def test_a_refund_whose_ticket_no_and_write_off_no_name_different_tickets_is_not_found() -> None:
    ticket = _ticket()
    decision = decide(ticket, _refund(ticket_no="TNP", write_off_no="WOG"), NOW)
    assert (decision.rtn_code, decision.ticket) == (RtnCode.TICKET_NOT_FOUND, ticket)


def test_a_refund_may_name_the_ticket_by_write_off_no_alone() -> None:
    decision = decide(_ticket(), _refund(ticket_no=None, write_off_no="WOP"), NOW)
    assert isinstance(decision.events[0], TicketRefunded)


def test_a_refund_naming_no_ticket_at_all_is_invalid_data() -> None:
    with pytest.raises(ValueError, match="TicketNo or a WriteOffNo"):
        _refund(ticket_no="", write_off_no="")


def test_another_merchant_can_neither_change_nor_see_the_ticket() -> None:
    ticket = _ticket()
    for name in ("write_off", "cancel_write_off", "refund", "cancel_refund"):
        decision = decide(ticket, _request(name, ticket, merchant=OTHER_MERCHANT), LATER)  # even with expiry due
        refusal = decision.rejection
        assert decision.ticket == ticket and len(decision.events) == 1 and refusal is not None
        assert (refusal.rtn_code, refusal.ticket_trade_no) == (RtnCode.TICKET_OF_OTHER_MERCHANT, None)
        assert refusal.key() == order_key(OTHER_MERCHANT, "WOP" if "write_off" in name else "TNP")


def test_a_platform_acting_for_the_merchant_may_redeem_a_ticket_another_platform_issued() -> None:
    decision = decide(_ticket(), _write_off(platform=POS_PLATFORM), NOW)
    assert isinstance(decision.events[0], TicketWrittenOff)


def test_a_naive_instant_is_refused_because_business_dates_need_a_time_zone() -> None:
    with pytest.raises(ValueError, match="naive"):
        decide(_ticket(), _write_off(), datetime(2024, 6, 10, 12))  # noqa: DTZ001 - the point of the test


# --- fees and the facts settlement needs ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "face", "fee", "amount"),
    [
        (RefundFeeRule(), 1000, 0, 1000),
        (RefundFeeRule(kind=FeeKind.FIXED, amount=30), 1000, 30, 970),
        (RefundFeeRule(kind=FeeKind.FIXED, amount=5000), 1000, 1000, 0),  # capped at face value
        (RefundFeeRule(kind=FeeKind.PERCENT, basis_points=1000), 999, 99, 900),  # rounded down for the consumer
        (RefundFeeRule(kind=FeeKind.PERCENT, basis_points=10_000), 999, 999, 0),
    ],
)
def test_a_pickup_refund_keeps_the_merchants_fee_and_returns_the_rest(
    rule: RefundFeeRule, face: int, fee: int, amount: int
) -> None:
    ticket = replace(_ticket(), refund_fee_rule=rule, face_value=face)
    (event,) = decide(ticket, _refund(), NOW).events
    assert isinstance(event, TicketRefunded)
    assert (event.face_value, event.fee, event.refund_amount) == (face, fee, amount)


def test_a_gift_refund_changes_the_status_only_whatever_the_fee_rule() -> None:
    ticket = replace(_ticket(G), refund_fee_rule=RefundFeeRule(kind=FeeKind.FIXED, amount=50))
    (event,) = decide(ticket, _refund(ticket_no="TNG"), NOW).events
    assert isinstance(event, TicketRefunded)
    assert (event.fee, event.refund_amount, event.within_escrow, event.escrow_expiry_date) == (0, 0, False, None)


def test_a_cancelled_refund_reverses_exactly_the_fee_and_amount_of_the_refund() -> None:
    refunded = decide(_ticket(), _refund(), NOW)
    assert refunded.ticket is not None
    (cancel,) = decide(refunded.ticket, _refund(cancel=True), NOW + timedelta(minutes=5)).events
    (refund,) = refunded.events
    assert isinstance(cancel, RefundCancelled) and isinstance(refund, TicketRefunded)
    assert (cancel.fee, cancel.refund_amount, cancel.refunded_at) == (refund.fee, refund.refund_amount, NOW)


def test_every_event_carries_the_order_facts_and_travels_on_the_orders_key() -> None:
    command = _write_off()
    (event,) = decide(_ticket(), command, NOW).events
    assert isinstance(event, TicketWrittenOff)
    assert (event.merchant_id, event.platform_id, event.ticket_trade_no, event.merchant_trade_no) == (
        MERCHANT, PLATFORM, "ORD1", "ORD1",
    )  # fmt: skip
    assert (event.ticket_no, event.face_value, event.escrow_expiry_date) == ("TNP", 1000, ESCROW_LAST_DAY)
    assert (event.request_id, event.within_escrow, event.at.utcoffset()) == (command.request_id, True, timedelta(0))
    assert event.key() == order_key(MERCHANT, "ORD1")
    wrapped = wrap(event, event_id=uuid.uuid4(), occurred_at=NOW, producer="t", correlation_id="c", causation_id=None)
    assert payload_of(wrapped.envelope) == event


def test_issuance_without_an_escrow_date_for_a_pickup_voucher_is_a_broken_contract() -> None:
    with pytest.raises(ValueError, match="escrow expiry date"):
        tickets_from_issued(_issued(escrow=None))


# --- dates: Asia/Taipei business days ---------------------------------------------------------------------------


def test_a_write_off_at_2359_taipei_the_day_before_start_is_not_yet_valid() -> None:
    just_before = start_of_business_day(START) - timedelta(microseconds=1)
    assert decide(_ticket(), _write_off(), just_before).rtn_code is RtnCode.TICKET_NOT_YET_VALID


def test_a_write_off_at_0000_taipei_on_the_start_date_succeeds_although_utc_is_still_the_day_before() -> None:
    midnight = datetime(2024, 6, 1, 0, 0, tzinfo=TAIPEI)
    assert midnight.astimezone(TAIPEI).date() == START and start_of_business_day(START).date() < START
    assert decide(_ticket(), _write_off(), midnight).rtn_code is RtnCode.SUCCESS


def test_a_refund_before_the_start_date_is_allowed() -> None:
    assert decide(_ticket(), _refund(), datetime(2024, 5, 25, tzinfo=TAIPEI)).rtn_code is RtnCode.SUCCESS


def test_a_gift_can_be_written_off_until_the_last_microsecond_of_its_expire_date() -> None:
    last = end_of_business_day(GIFT_EXPIRES) - timedelta(microseconds=1)
    assert decide(_ticket(G), _write_off(no="WOG"), last).rtn_code is RtnCode.SUCCESS


def test_a_gift_written_off_at_0000_after_its_expire_date_expires_instead() -> None:
    decision = decide(_ticket(G), _write_off(no="WOG"), end_of_business_day(GIFT_EXPIRES))
    expired, refusal = decision.events
    assert isinstance(expired, TicketExpired) and expired.kind is ExpiryKind.USAGE and expired.request_id is None
    assert isinstance(refusal, RedemptionRejected) and refusal.rtn_code is RtnCode.TICKET_EXPIRED
    assert decision.ticket is not None and decision.ticket.status is UseStatus.EXPIRED


def test_a_pickup_voucher_never_expires_for_the_consumer_whatever_its_expire_date() -> None:
    ticket = _ticket()
    assert decide(ticket, ExpireUsage("TNP"), LATER) == Decision(ticket)
    decision = decide(decide(ticket, ExpireEscrow("TNP"), LATER).ticket, _write_off(), LATER)
    assert decision.ticket is not None and decision.ticket.status is UseStatus.WRITTEN_OFF


# --- the escrow boundary ----------------------------------------------------------------------------------------

ESCROW_ENDS = end_of_business_day(ESCROW_LAST_DAY)  # 2024-08-31 00:00 Taipei


def test_a_refund_in_the_last_microsecond_of_escrow_succeeds() -> None:
    (event,) = decide(_ticket(), _refund(), ESCROW_ENDS - timedelta(microseconds=1)).events
    assert isinstance(event, TicketRefunded) and event.within_escrow


def test_a_refund_when_escrow_has_ended_is_refused_and_the_escrow_is_released() -> None:
    decision = decide(_ticket(), _refund(), ESCROW_ENDS)
    assert [type(e) for e in decision.events] == [TicketExpired, RedemptionRejected]
    assert decision.rtn_code is RtnCode.REFUND_AFTER_ESCROW
    assert decision.ticket == replace(_ticket(), escrow_released=True)


def test_a_write_off_after_escrow_moves_no_money_and_releases_the_escrow_if_the_scheduler_is_late() -> None:
    decision = decide(_ticket(), _write_off(), ESCROW_ENDS)
    expired, written_off = decision.events
    assert isinstance(expired, TicketExpired) and expired.kind is ExpiryKind.ESCROW
    assert isinstance(written_off, TicketWrittenOff) and not written_off.within_escrow
    assert decision.ticket is not None and decision.ticket.escrow_released


def test_escrow_expiry_is_not_due_before_the_end_of_the_last_escrow_day() -> None:
    ticket = _ticket()
    assert decide(ticket, ExpireEscrow("TNP"), ESCROW_ENDS - timedelta(microseconds=1)) == Decision(ticket)


def test_escrow_expiry_keeps_the_voucher_redeemable_and_releases_its_money_once() -> None:
    first = decide(_ticket(), ExpireEscrow("TNP"), ESCROW_ENDS)
    assert first.ticket == replace(_ticket(), escrow_released=True)
    (event,) = first.events
    assert isinstance(event, TicketExpired) and (event.kind, event.within_escrow) == (ExpiryKind.ESCROW, False)
    assert decide(first.ticket, ExpireEscrow("TNP"), LATER) == Decision(first.ticket)
    (written_off,) = decide(first.ticket, _write_off(), LATER).events
    assert isinstance(written_off, TicketWrittenOff) and not written_off.within_escrow


# --- the cancel windows: the act's own Asia/Taipei business day -------------------------------------------------


@pytest.mark.parametrize(
    ("act", "cancel", "refusal"),
    [
        (_write_off, lambda: _write_off(cancel=True), RtnCode.WRITE_OFF_CANCEL_NOT_ALLOWED),
        (_refund, lambda: _refund(cancel=True), RtnCode.REFUND_CANCEL_NOT_ALLOWED),
    ],
)
def test_a_write_off_or_refund_can_be_cancelled_until_its_business_day_ends(
    act: Callable[[], Command], cancel: Callable[[], Command], refusal: RtnCode
) -> None:
    at = datetime(2024, 6, 10, 23, 0, tzinfo=TAIPEI)
    done = decide(_ticket(), act(), at).ticket
    last_moment = end_of_business_day(date(2024, 6, 10)) - timedelta(microseconds=1)
    assert decide(done, cancel(), last_moment).rtn_code is RtnCode.SUCCESS
    assert decide(done, cancel(), end_of_business_day(date(2024, 6, 10))).rtn_code is refusal


def test_a_cancel_on_the_last_escrow_day_stays_on_the_same_side_of_the_escrow_end_as_the_write_off() -> None:
    at = ESCROW_ENDS - timedelta(minutes=30)
    written_off = decide(_ticket(), _write_off(), at)
    cancelled = decide(written_off.ticket, _write_off(cancel=True), ESCROW_ENDS - timedelta(microseconds=1))
    (original,), (cancel,) = written_off.events, cancelled.events
    assert isinstance(original, TicketWrittenOff) and isinstance(cancel, WriteOffCancelled)
    assert original.within_escrow and cancel.within_escrow and cancel.written_off_at == at


# --- property: no sequence of requests breaks the rules or the money --------------------------------------------


class Replay:
    """Folds the emitted events on their own, asserting the rules and moving the money settlement would move."""

    def __init__(self, ticket: Ticket) -> None:
        self.ticket, self.status, self.released = ticket, UseStatus.UNUSED, False
        pickup = ticket.ticket_type is TicketType.PICKUP
        self.held, self.to_merchant, self.to_consumer = ticket.face_value if pickup else 0, 0, 0
        self.within: bool | None = None  # within_escrow of the current write-off / refund

    def _move(self, amount: int, merchant: int, consumer: int) -> None:
        if self.ticket.ticket_type is TicketType.PICKUP:
            self.held, self.to_merchant, self.to_consumer = (
                self.held - amount, self.to_merchant + merchant, self.to_consumer + consumer,
            )  # fmt: skip

    def apply(self, event: object) -> None:
        face = self.ticket.face_value
        if isinstance(event, TicketWrittenOff):
            assert self.status is UseStatus.UNUSED, "two write-offs without a cancel, or a write-off of a refund"
            self.status, self.within = UseStatus.WRITTEN_OFF, event.within_escrow
            pickup = self.ticket.ticket_type is TicketType.PICKUP
            assert not pickup or event.within_escrow != self.released, "the merchant is paid exactly once"
            self._move(face if event.within_escrow else 0, face if event.within_escrow else 0, 0)
        elif isinstance(event, WriteOffCancelled):
            assert self.status is UseStatus.WRITTEN_OFF and event.within_escrow == self.within
            self.status = UseStatus.UNUSED
            self._move(-face if event.within_escrow else 0, -face if event.within_escrow else 0, 0)
        elif isinstance(event, TicketRefunded):
            assert self.status is UseStatus.UNUSED, "a refund after a write-off (or a second refund)"
            pickup = self.ticket.ticket_type is TicketType.PICKUP
            assert not pickup or (event.within_escrow and not self.released), "a refund after escrow expiry"
            assert event.at < ESCROW_ENDS and event.fee + event.refund_amount == (face if pickup else 0)
            self.status, self.within = UseStatus.REFUNDED, event.within_escrow
            self._move(face, event.fee, event.refund_amount)
        elif isinstance(event, RefundCancelled):
            assert self.status is UseStatus.REFUNDED and event.within_escrow == self.within
            self.status = UseStatus.UNUSED
            self._move(-face, -event.fee, -event.refund_amount)
        elif isinstance(event, TicketExpired) and event.kind is ExpiryKind.ESCROW:
            assert self.ticket.ticket_type is TicketType.PICKUP and self.status is UseStatus.UNUSED
            assert not self.released and event.at >= ESCROW_ENDS
            self.released = True
            self._move(face, face, 0)
        elif isinstance(event, TicketExpired):
            assert self.ticket.ticket_type is TicketType.GIFT and self.status is UseStatus.UNUSED
            self.status = UseStatus.EXPIRED


REQUEST_NAMES = ("write_off", "cancel_write_off", "refund", "cancel_refund", "expire_escrow", "expire_usage")


class TicketLifecycle(RuleBasedStateMachine):
    @initialize(kind=st.sampled_from(TicketType), fee=st.integers(0, 1500), days=st.integers(0, 100))
    def issue(self, kind: TicketType, fee: int, days: int) -> None:
        ticket = replace(_ticket(kind), refund_fee_rule=RefundFeeRule(kind=FeeKind.FIXED, amount=fee))
        self.ticket, self.replay = ticket, Replay(ticket)
        # From before StartDate to after the escrow end, so every period boundary is crossed in some runs.
        self.now = datetime(2024, 5, 28, 9, 0, tzinfo=TAIPEI) + timedelta(days=days)

    @rule(minutes=st.integers(0, 240))
    def minutes_pass(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @rule(days=st.integers(1, 30))
    def days_pass(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule(name=st.sampled_from(REQUEST_NAMES), own=st.sampled_from([True, True, True, False]))
    def request(self, name: str, own: bool) -> None:
        decision = decide(self.ticket, _request(name, self.ticket, MERCHANT if own else OTHER_MERCHANT), self.now)
        assert decision.ticket is not None and (own or decision.ticket == self.ticket or name.startswith("expire"))
        for event in decision.events:
            self.replay.apply(event)
        self.ticket = decision.ticket
        if name == "expire_escrow" and self.now >= ESCROW_ENDS and self.ticket.ticket_type is TicketType.PICKUP:
            assert self.replay.held == 0, "after escrow expiry no pickup money may stay in escrow"

    @invariant()
    def the_events_replay_to_the_state_and_the_money_balances(self) -> None:
        replay = self.replay
        assert replay.status is self.ticket.status and replay.released is self.ticket.escrow_released
        face = self.ticket.face_value if self.ticket.ticket_type is TicketType.PICKUP else 0
        assert replay.held in (0, face) and replay.held + replay.to_merchant + replay.to_consumer == face
        assert not (self.ticket.ticket_type is TicketType.PICKUP and self.ticket.status is UseStatus.EXPIRED)


TicketLifecycle.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
test_no_sequence_of_requests_breaks_a_redemption_rule_or_the_money = TicketLifecycle.TestCase
