"""Escrow settlement: a double-entry ledger of the escrowed money, and the payouts and refunds it instructs.

`services.escrow_settlement.domain` is the pure core (no I/O, no clock); see docs/ledger.md.
"""
