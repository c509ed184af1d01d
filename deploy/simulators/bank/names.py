"""Who the simulated bank is on the platform's runtime: its schema (and consumer group) and its producer name."""

from __future__ import annotations

from shared.contracts.events import Producer

SCHEMA = "escrow_bank"
PRODUCER = Producer("escrow-bank")
