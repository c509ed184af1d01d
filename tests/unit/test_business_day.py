"""One business day for the whole platform: the cut-off that ends it, the cancel window it bounds, and the payout
runs it allows (shared.clock, redemption's windows, settlement's business_days)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.escrow_settlement.domain.business_days import has_ended, last_ended, sandbox_runs_due
from services.escrow_settlement.domain.payouts import settlement_day
from services.redemption.domain import Ticket, WriteOff, WriteOffAction, decide, tickets_from_issued
from services.redemption.domain.windows import cancel_window_open
from shared.clock import TAIPEI, business_date, business_day, next_day_boundary
from shared.contracts.common import RefundFeeRule, TicketType, UseStatus
from shared.contracts.issuance import IssuedTicket, TicketsIssued
from shared.contracts.redemption import RedemptionRejected, WriteOffCancelled
from shared.contracts.rtncodes import RtnCode
from shared.settings import business_day_cutoff

pytestmark = pytest.mark.unit

SIX_PM = time(18, 0)
DAY = date(2026, 11, 27)


def taipei(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TAIPEI)


def test_with_an_18_00_cut_off_an_instant_from_18_00_on_belongs_to_the_next_business_day() -> None:
    assert business_day(taipei(DAY, 17, 59), SIX_PM) == DAY
    assert business_day(taipei(DAY, 18, 0), SIX_PM) == DAY + timedelta(days=1)
    assert business_day(taipei(DAY, 23, 59), SIX_PM) == DAY + timedelta(days=1)
    assert business_day(taipei(DAY, 0, 0), SIX_PM) == DAY


def test_settlement_and_the_shared_clock_agree_on_every_business_day() -> None:
    for hour in range(24):
        moment = taipei(DAY, hour, 30)
        assert settlement_day(moment, SIX_PM) == business_day(moment, SIX_PM)


def test_a_write_off_at_17_00_can_be_cancelled_until_the_18_00_cut_off_and_not_after() -> None:
    done = taipei(DAY, 17, 0)
    assert cancel_window_open(done, taipei(DAY, 17, 59), SIX_PM)
    assert not cancel_window_open(done, taipei(DAY, 18, 0), SIX_PM)


def test_a_write_off_after_the_cut_off_can_be_cancelled_until_midnight_where_escrow_periods_end() -> None:
    done = taipei(DAY, 19, 0)
    assert cancel_window_open(done, taipei(DAY, 23, 59), SIX_PM)
    assert not cancel_window_open(done, taipei(DAY + timedelta(days=1), 0, 0), SIX_PM)


def test_without_a_cut_off_the_window_is_the_taipei_calendar_day() -> None:
    done = taipei(DAY, 9, 0)
    assert cancel_window_open(done, taipei(DAY, 23, 59))
    assert not cancel_window_open(done, taipei(DAY + timedelta(days=1), 0, 0))
    assert not cancel_window_open(done, done - timedelta(seconds=1))


@given(
    done=st.integers(0, 40 * 365 * 86400).map(lambda s: datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=s)),
    later=st.timedeltas(timedelta(0), timedelta(days=2)),
    cutoff=st.sampled_from([time(0), time(6), time(18), time(23, 30)]),
)
def test_a_cancel_inside_the_window_is_on_the_acts_business_day_and_calendar_day(
    done: datetime, later: timedelta, cutoff: time
) -> None:
    """So it reverses money no payout run has instructed yet, and falls on the same side of an escrow end."""
    now = done + later
    if cancel_window_open(done, now, cutoff):
        assert business_day(now, cutoff) == business_day(done, cutoff)
        assert business_date(now) == business_date(done)
    else:
        assert now >= next_day_boundary(done, cutoff)


def _written_off_at(done_at: datetime) -> tuple[Ticket, WriteOff]:
    issued = TicketsIssued(
        merchant_id="3362787", platform_id=None, ticket_trade_no="O1", merchant_trade_no="O1", free_trade_no=None,
        request_id="R1", issue_type="3", issued_at=done_at - timedelta(days=1), payment=None, escrow_days=90,
        escrow_expiry_date=DAY + timedelta(days=90), total_face_value=500,
        tickets=(IssuedTicket(ticket_no="TN1", write_off_hash="H1", write_off_sealed="v1.S1", ticket_type=TicketType.PICKUP, item_no="P1",
                              item_name="Tea", face_value=500, start_date=None, expire_date=None,
                              refund_fee_rule=RefundFeeRule()),),
    )  # fmt: skip
    [ticket] = tickets_from_issued(issued)
    ticket = replace(ticket, status=UseStatus.WRITTEN_OFF, written_off_at=done_at)
    cancel = WriteOff("H1", WriteOffAction.CANCEL, "S1", "op", "typo", "R2", "3362787", None)
    return ticket, cancel


def test_the_state_machine_refuses_a_cancel_after_the_cut_off_with_3006_and_says_until_when() -> None:
    ticket, cancel = _written_off_at(taipei(DAY, 17, 0))
    [refusal] = decide(ticket, cancel, taipei(DAY, 18, 5), SIX_PM).events
    assert isinstance(refusal, RedemptionRejected)
    assert refusal.rtn_code == RtnCode.WRITE_OFF_CANCEL_NOT_ALLOWED
    assert "2026-11-27 18:00" in (refusal.reason or "")
    [cancelled] = decide(ticket, cancel, taipei(DAY, 17, 55), SIX_PM).events
    assert isinstance(cancelled, WriteOffCancelled)


def test_a_payout_run_may_only_settle_a_business_day_that_has_ended() -> None:
    assert not has_ended(DAY, taipei(DAY, 17, 59), SIX_PM)
    assert has_ended(DAY, taipei(DAY, 18, 0), SIX_PM)
    assert not has_ended(DAY, taipei(DAY, 23, 0), time(0))
    assert has_ended(DAY, taipei(DAY + timedelta(days=1), 0, 0), time(0))
    assert last_ended(taipei(DAY, 18, 0), SIX_PM) == DAY


def test_a_sandbox_merchant_ahead_gets_a_run_for_its_own_ended_day_once() -> None:
    now = taipei(DAY, 12, 0)
    ahead = {"9000000001": timedelta(days=91), "9000000002": timedelta(hours=1)}
    due = sandbox_runs_due(now, time(0), ahead, latest={})
    assert due == [("9000000001", DAY + timedelta(days=90)), ("9000000002", DAY - timedelta(days=1))]
    assert sandbox_runs_due(now, time(0), ahead, latest=dict(due)) == []


def test_the_cut_off_is_read_from_business_day_cutoff_and_a_malformed_one_stops_the_service(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SETTLEMENT_CUTOFF", raising=False)
    monkeypatch.setenv("BUSINESS_DAY_CUTOFF", "18:00")
    assert business_day_cutoff() == SIX_PM
    monkeypatch.delenv("BUSINESS_DAY_CUTOFF")
    monkeypatch.setenv("SETTLEMENT_CUTOFF", "06:00")  # the older name still works
    assert business_day_cutoff() == time(6)
    monkeypatch.setenv("BUSINESS_DAY_CUTOFF", "6pm")
    with pytest.raises(ValueError, match="HH:MM"):
        business_day_cutoff()
