"""Load -> decide (the pure domain) -> save, for each way work reaches the ledger: consumed events (`ledger`, and
`rejections` for other services' dead letters), the payout run, the overdue sweep and the full check (`audit`)."""
