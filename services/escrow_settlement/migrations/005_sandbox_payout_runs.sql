-- A sandbox merchant whose test clock runs ahead gets its own payout run when its (shifted) business day ends:
-- one per merchant and day, whichever instance asks first.
CREATE UNIQUE INDEX payout_runs_sandbox ON payout_runs (business_date, (merchant_ids[1]))
    WHERE requested_by = 'sandbox-clock';
