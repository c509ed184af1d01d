-- When the payment-deadline sweep last committed. A longer gap than usual means nothing in issuance could run (its
-- database was down or restarting, or no instance was up): time in which no payment could be taken in is not
-- counted against the orders waiting for one (handlers.sweep_overdue).
CREATE TABLE sweep_clock (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    swept_at   timestamptz NOT NULL
);
