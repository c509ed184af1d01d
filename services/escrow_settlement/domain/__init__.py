"""The pure double-entry ledger of escrowed money (no I/O, no clock). See docs/ledger.md.

Entry points: `postings.post(state, fact) -> Outcome`, `batch.settle(slice, facts) -> BatchOutcome` (a consumer
batch, with quarantine), `payouts.plan(state, day) -> SettlementPlan`, `invariants.check_state / check_entries /
check_ledger -> list[Violation]`, `statement.build(...) -> Statement`.
"""
