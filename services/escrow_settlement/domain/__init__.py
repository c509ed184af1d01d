"""The pure double-entry ledger of escrowed money (no I/O, no clock). See docs/ledger.md.

Entry points: `postings.post(state, fact) -> Outcome`, `payouts.plan(state, day) -> SettlementPlan`,
`invariants.check_state / check_entries / check_ledger -> list[Violation]`.
"""
