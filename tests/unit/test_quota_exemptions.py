"""Every producer of the platform's own is exempt from the produce quotas: a relay left out would be throttled to
the rate for strangers and hold back every event of its service."""

from __future__ import annotations

import importlib

import pytest

from shared.infra.quotas import PLATFORM_PRODUCERS, merchant_client_id
from shared.infra.service import ServiceSpec

pytestmark = pytest.mark.unit

# Every process with an outbox (and so a relay): the services and the simulators.
APPS = (
    "services.payment_confirmation.app",
    "services.issuance.app",
    "services.redemption.app",
    "services.escrow_settlement.app",
    "services.query.app",
    "services.gateway.app",
    "services.notification.app",
    "deploy.simulators.processor.app",
    "deploy.simulators.bank.app",
)


@pytest.mark.parametrize("module", APPS)
def test_each_relay_is_exempt(module: str) -> None:
    spec = importlib.import_module(module).SPEC
    assert isinstance(spec, ServiceSpec)
    assert f"{spec.schema}-relay" in PLATFORM_PRODUCERS


def test_a_merchants_client_id_is_not_one_of_the_platforms() -> None:
    assert merchant_client_id("3085676") == "ecticket-merchant-3085676"
    assert not any(client.startswith("ecticket-merchant-") for client in PLATFORM_PRODUCERS)
