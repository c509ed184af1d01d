-- Daily bank reconciliation (domain/reconciliation.py): each movement of money as the ledger knows it and as the
-- bank's statement books it, matched by the bank's line id; and the statement days the bank has closed.

CREATE TABLE recon_items (
    item_key          text PRIMARY KEY,  -- 'credit/<TradeNo>', 'debit/<instruction id>' (or a repeat: '.../again/...')
    direction         text NOT NULL CHECK (direction IN ('credit', 'debit')),
    merchant_id       text,
    order_key         text,
    -- The ledger's side, written in the transaction that posts the payment or the bank's confirmation.
    ledger_amount     bigint,
    ledger_on         date,  -- the statement day its bank line is expected on
    ledger_cause      text,
    -- The bank's side: its statement line.
    bank_amount       bigint,
    bank_on           date,  -- the statement day carrying the line
    bank_cause        text,
    status            text NOT NULL CHECK (status IN ('open', 'matched', 'amount_differs', 'bank_only', 'ledger_only')),
    resolved_at       timestamptz,
    resolved_note     text,
    updated_at        timestamptz NOT NULL,
    CHECK (ledger_amount IS NOT NULL OR bank_amount IS NOT NULL)
);
-- The payout run's question: which payments of a merchant are not matched (few, normally).
CREATE INDEX recon_items_unmatched ON recon_items (merchant_id)
    WHERE status <> 'matched' AND resolved_at IS NULL AND ledger_amount IS NOT NULL;
-- A closing's question: which open items of its day it decides.
CREATE INDEX recon_items_open_bank ON recon_items (bank_on) WHERE status = 'open';
CREATE INDEX recon_items_open_ledger ON recon_items (ledger_on) WHERE status = 'open';
CREATE INDEX recon_items_by_order ON recon_items (order_key);
CREATE INDEX recon_items_by_bank_day ON recon_items (bank_on);

-- Each statement day the bank closed, once: what its closing said.
CREATE TABLE recon_statement_days (
    statement_date date PRIMARY KEY,
    lines          integer NOT NULL,
    credits_total  bigint NOT NULL,
    debits_total   bigint NOT NULL,
    closed_at      timestamptz NOT NULL,
    cause_id       text NOT NULL,
    recorded_at    timestamptz NOT NULL
);
