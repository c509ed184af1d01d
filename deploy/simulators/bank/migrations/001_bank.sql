-- The simulated escrow bank (sandbox): its control rules, and the answer it gave to each instruction id.

CREATE TABLE bank_rules (
    subject       text PRIMARY KEY,  -- order key, merchant id, or '*'
    action        text NOT NULL CHECK (action IN ('reject', 'delay')),
    reason        text NOT NULL DEFAULT '',
    delay_seconds double precision NOT NULL DEFAULT 0,
    remaining     integer  -- NULL: for ever
);

-- One row per instruction id ever received: the bank never carries out one id twice.
CREATE TABLE bank_transfers (
    instruction_id  uuid PRIMARY KEY,
    transfer        text NOT NULL,
    merchant_id     text NOT NULL,
    ticket_trade_no text,
    amount          bigint NOT NULL,
    accepted        boolean NOT NULL,
    reason          text NOT NULL,
    answer_at       timestamptz NOT NULL,
    answered        boolean NOT NULL DEFAULT false,
    received_at     timestamptz NOT NULL
);
CREATE INDEX bank_transfers_due ON bank_transfers (answer_at) WHERE NOT answered;
