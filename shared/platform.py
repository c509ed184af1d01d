"""The platform's services and the outside systems simulated beside them, named once (the tests' platform, the chaos
run's targets and the quota exemptions of their relays all read these)."""

from __future__ import annotations

PLATFORM_SERVICES = (
    "payment_confirmation",
    "issuance",
    "redemption",
    "escrow_settlement",
    "query",
    "gateway",
    "notification",
)
SIMULATED_SYSTEMS = ("payment_processor", "escrow_bank")
