"""Redemption service: owns each ticket's usage state after issuance (write-off, refund, their cancellations,
expiry) and publishes every decision on ecticket.redemption.events.v1. The rules live in `domain` (pure)."""
