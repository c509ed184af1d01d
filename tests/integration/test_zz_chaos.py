"""The chaos run, short: a paid-order stream with write-offs, refunds, their cancellations and escrow expiries while
every kind of fault is injected (kill -9 of a service every few seconds, the broker and PostgreSQL restarted, the
database's sessions terminated, a process paused past its session timeout), and afterwards nothing lost, nothing
done twice, every ticket as the pure core decides, the ledger equal to its replay, no dead letter (docs/chaos.md).

Named to run last: it restarts the session's broker and database, which the tests before it need undisturbed."""

from __future__ import annotations

import io
import os

import pytest

from deploy.chaos.report import human
from deploy.chaos.run import Options, chaos
from deploy.chaos.schedule import KINDS
from shared.settings import Settings
from tests.conftest import PLATFORM_SERVICES
from tests.support.processes import Platform

pytestmark = pytest.mark.slow

ORDERS = int(os.environ.get("CHAOS_TEST_ORDERS", "2000"))
SEED = int(os.environ.get("CHAOS_TEST_SEED", "15"))


class SuiteInstances:
    """The session's service processes (one of each) as the chaos driver's targets."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def names(self) -> list[str]:
        return list(PLATFORM_SERVICES)

    def pid(self, name: str) -> int:
        process = self.platform[name].process
        assert process is not None
        return process.pid

    def kill9(self, name: str) -> None:
        self.platform[name].kill9()

    async def start(self, name: str) -> None:
        await self.platform[name].start()


async def test_a_paid_order_stream_under_every_kind_of_fault_loses_and_repeats_nothing(
    platform: Platform, topics: Settings
) -> None:
    infra_name = os.environ.get("INFRA_NAME")
    if not infra_name:
        pytest.skip("restarts the broker and database with deploy/local/infra.sh: needs INFRA_NAME (make test)")
    options = Options(orders=ORDERS, seed=SEED, infra_name=infra_name, shared_instance=True)
    result = await chaos(topics, SuiteInstances(platform), options)
    text = io.StringIO()
    human(result, text)
    print(text.getvalue())
    assert set(result["faults"]) == set(KINDS), text.getvalue()
    assert result["clean"], text.getvalue()
