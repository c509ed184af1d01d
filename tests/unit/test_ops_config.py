"""The dashboard watches what the platform runs: the lag of every group a service joins, every schema's outbox."""

from __future__ import annotations

import importlib

from services.ops.config import PLATFORM_GROUPS, PLATFORM_SCHEMAS
from shared.access import ACCESS
from shared.platform import PLATFORM_SERVICES


def test_the_dashboard_watches_the_consumer_group_of_every_service_that_consumes() -> None:
    joined = {
        importlib.import_module(f"services.{name}.app").SPEC.name for name in PLATFORM_SERVICES if ACCESS[name].groups
    }
    assert joined == set(PLATFORM_GROUPS) - {"escrow_bank"}  # the simulated bank's group besides
    assert {"payment-confirmation", "notification"} <= joined


def test_the_dashboard_watches_the_outbox_of_every_service() -> None:
    assert set(PLATFORM_SERVICES) <= set(PLATFORM_SCHEMAS)
