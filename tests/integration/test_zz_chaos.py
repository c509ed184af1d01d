"""The chaos run, short: a paid-order stream with write-offs, refunds, their cancellations and escrow expiries while
every kind of fault is injected (kill -9 of a service every few seconds, the broker and PostgreSQL restarted, the
database's sessions terminated, a process paused past its session timeout), and afterwards nothing lost, nothing
done twice, every ticket as the pure core decides, the ledger equal to its replay, no dead letter (docs/chaos.md).

Named to run last: it restarts the session's broker and database, which the tests before it need undisturbed."""

from __future__ import annotations

import asyncio
import io
import os

import pytest

from deploy.chaos import plans, schedule
from deploy.chaos.report import human
from deploy.chaos.run import Options, chaos
from shared.access import group_of
from shared.contracts.common import UseStatus
from shared.platform import PLATFORM_SERVICES
from shared.settings import Settings
from tests.support.postgres import drop_test_schemas
from tests.support.processes import Platform

# Issue 15's size for the run inside `make test`: 2,000 orders, meeting every kind of fault (placed by the share of
# the stream sent); `make chaos` runs the long campaigns. Once the test stopped waiting on other tests' outboxes it
# took about a minute at 1,000 orders (it had been a quarter of the suite at 2,000).
ORDERS = int(os.environ.get("CHAOS_TEST_ORDERS", "2000"))
SEED = int(os.environ.get("CHAOS_TEST_SEED", "15"))
# A killed service is started again until it is ready (a supervisor's loop); here a restart that takes 4 minutes is
# already the finding, and the long campaigns' 15 minutes would be a quarter-hour of CI spent waiting (it was, once:
# the gateway refused by the broker's SCRAM handshake for 15 minutes).
RESTART_GIVE_UP_SECONDS = 240.0


# The session runs the services with short timers so timeout tests finish quickly (tests/conftest.py): a paid order
# fails when its payment is not seen within 6 s, a payment is refunded when no Issue request claims it within 10 s,
# a result the processor cannot confirm within 15 s is rejected. Faults last longer than that (a broker restart here:
# 30-70 s), so under them those timers decide (seen: 78 of 2,000 orders failed with 2008 "no confirmed payment" after
# an issuance restart). The chaos run is about faults, not these timers: it runs the services with production's.
PRODUCTION_TIMERS = {
    "ISSUANCE_PAYMENT_WAIT_SECONDS": "900",
    "ISSUANCE_UNCLAIMED_PAYMENT_SECONDS": "86400",
    "PAYMENT_VERIFY_GIVE_UP_SECONDS": "86400",
    "REDEMPTION_TICKET_WAIT_SECONDS": "10",
}


class SuiteInstances:
    """The session's service processes (one of each) as the chaos driver's targets, run with production timers."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    async def with_production_timers(self) -> None:
        await asyncio.gather(*(self.platform[name].stop() for name in PLATFORM_SERVICES))
        await asyncio.gather(*(self.start(name) for name in PLATFORM_SERVICES))

    def names(self) -> list[str]:
        return list(PLATFORM_SERVICES)

    def pid(self, name: str) -> int:
        process = self.platform[name].process
        assert process is not None
        return process.pid

    def kill9(self, name: str) -> None:
        self.platform[name].kill9()

    async def start(self, name: str) -> None:
        await self.platform[name].start(extra_env=PRODUCTION_TIMERS)


@pytest.mark.slow
async def test_a_paid_order_stream_under_every_kind_of_fault_loses_and_repeats_nothing(
    platform: Platform, topics: Settings
) -> None:
    infra_name = os.environ.get("INFRA_NAME")
    if not infra_name:
        pytest.skip("restarts the broker and database with deploy/local/infra.sh: needs INFRA_NAME (make test)")
    # The run waits for every outbox on the database to drain before judging: the schemas tests left (earlier runs'
    # too) hold rows no relay publishes, and the wait ran to its limit, three minutes (the run restarts the database
    # and broker anyway: nothing else may be using the instance now).
    await drop_test_schemas(topics.database_url)
    options = Options(
        orders=ORDERS, seed=SEED, infra_name=infra_name, shared_instance=True, restart_give_up_s=RESTART_GIVE_UP_SECONDS
    )
    instances = SuiteInstances(platform)
    await instances.with_production_timers()  # the test runs last: nothing after it needs the short ones
    result = await chaos(topics, instances, options)
    text = io.StringIO()
    human(result, text)
    print(text.getvalue())
    assert set(result["faults"]) == set(schedule.KINDS), text.getvalue()
    assert result["clean"], text.getvalue()
    # No fault may end a service: the driver restarts only what it killed itself. (CI keeps no service log: the
    # failure's text, with the logs' last lines, is all that is left of a failed run.)
    ended = [name for name in PLATFORM_SERVICES if not running(platform, name)]
    assert not ended, f"services that ended on their own: {ended}\n" + text.getvalue() + logs_of(platform, ended)
    # Had it waited to its limit, the checks would still pass: three minutes lost unseen. Loudly, instead.
    busy = [
        name for name in PLATFORM_SERVICES if any(owner in what for what in result["busy"] for owner in owners(name))
    ]
    assert result["quiet_after_s"] >= 0, (
        "never quiet: a lagging group or an outbox nobody relays?\n" + text.getvalue() + logs_of(platform, busy)
    )


def owners(name: str) -> set[str]:
    """How a service is named in what stayed busy: its schema (an outbox) and its group ("payment-confirmation")."""
    return {name, group_of(name)}


def running(platform: Platform, name: str) -> bool:
    process = platform[name].process
    return process is not None and process.poll() is None


def logs_of(platform: Platform, names: list[str]) -> str:
    return "".join(f"\n--- the last lines of {name}'s log ---\n{platform[name].tail(80)}\n" for name in names)


def test_the_same_seed_gives_the_same_fault_schedule_and_orders_and_another_seed_does_not() -> None:
    targets = list(PLATFORM_SERVICES)

    def drawn(seed: int) -> tuple[object, ...]:
        kills = schedule.kills(seed, targets, 4.0)
        made = plans.orders(seed, 200, "RUN", ["m1", "m2"], ["e1", "e2"])
        return (schedule.milestones(seed, targets), [next(kills) for _ in range(20)],
                [(o.merchant_id, o.story) for o in made])  # fmt: skip

    assert drawn(15) == drawn(15)
    assert drawn(15) != drawn(16)
    assert sorted(m.kind for m in schedule.milestones(15, targets)) == sorted(
        [schedule.KAFKA, schedule.PG_FAST, schedule.PG_IMMEDIATE, schedule.PAUSE] + [schedule.PG_TERMINATE] * 3
    )


def test_a_ticket_is_expected_in_the_state_its_granted_requests_make_of_it() -> None:
    cancelled = plans.Order(0, "m", "T", plans.WRITE_OFF_CANCEL, answers=[plans.OK, plans.OK])
    assert cancelled.expected() == ((UseStatus.UNUSED, False), {"TicketWrittenOff": 1, "WriteOffCancelled": 1})
    refused_first = plans.Order(0, "m", "T", plans.WRITE_OFF_CANCEL, answers=["3001", "3002"])
    assert refused_first.expected() == ((UseStatus.UNUSED, False), {})
    refunded = plans.Order(0, "m", "T", plans.REFUND, answers=[plans.OK])
    assert refunded.expected() == ((UseStatus.REFUNDED, False), {"TicketRefunded": 1})
    expired = plans.Order(0, "m", "T", plans.EXPIRE)
    assert expired.expected() == ((UseStatus.UNUSED, True), {"TicketExpired": 1})
