-- Results that passed the local checks, waiting for the payment processor to vouch for them: the verifier's queue
-- (timers.PaymentVerifier claims due rows with FOR UPDATE SKIP LOCKED). A row leaves once decided: confirmed
-- (payments, duplicate_payments) or rejected (rejections).
CREATE TABLE waiting_results (
    message_id        uuid PRIMARY KEY,           -- the result's message id: its events' ids derive from it
    seq               bigserial NOT NULL,         -- arrival order: the first result verified for an order stands
    merchant_id       text NOT NULL,
    merchant_trade_no text NOT NULL,
    trade_no          text NOT NULL,
    payment           jsonb NOT NULL,             -- the PaymentConfirmed it becomes once the processor vouches for it
    fields            jsonb NOT NULL,             -- the result as sent, CheckMacValue included
    arrived_at        timestamptz NOT NULL,       -- the verification wait (PAYMENT_VERIFY_GIVE_UP_SECONDS) runs from here
    due_at            timestamptz NOT NULL,       -- when to ask the processor (again)
    attempts          integer NOT NULL DEFAULT 0, -- answers so far that left it waiting
    note              text NOT NULL DEFAULT ''    -- why it still waits: the last answer, or the processor's outage
);
CREATE INDEX waiting_results_due ON waiting_results (due_at);

-- Second genuine trades for orders already paid (a double charge), each published once as a PaymentConfirmed
-- with duplicate_of; the ledger refunds them in full.
CREATE TABLE duplicate_payments (
    merchant_id       text NOT NULL,
    merchant_trade_no text NOT NULL,
    trade_no          text NOT NULL,
    amount            integer NOT NULL CHECK (amount > 0),
    payment_type      text NOT NULL,
    payment_date      timestamptz NOT NULL,
    simulated         boolean NOT NULL,
    duplicate_of      text NOT NULL,
    fields            jsonb NOT NULL,
    confirmed_at      timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, merchant_trade_no, trade_no)
);

-- The escrow days the payment fixed (PaymentConfirmed.escrow_days); NULL for payments confirmed before.
ALTER TABLE payments ADD COLUMN escrow_days integer;
