-- The bank's statement of the escrow account: the days it books onto, every line it booked, the trades it learned
-- from the processor's reconciliation file, and the sandbox rules that make the statement misbehave.

-- A day is open while the bank books onto it, and closed once (BankStatementClosed). A line for a closed day goes
-- onto the next open one, as a bank books a late movement with the next statement.
CREATE TABLE statement_days (
    statement_date date PRIMARY KEY,
    closed_at      timestamptz,
    lines          integer,  -- what the closing said
    credits_total  bigint,
    debits_total   bigint
);

-- Every line the bank booked, once per line id ("credit/<TradeNo>", "debit/<instruction id>").
CREATE TABLE statement_lines (
    line_id           text PRIMARY KEY,
    statement_date    date NOT NULL REFERENCES statement_days,
    direction         text NOT NULL CHECK (direction IN ('credit', 'debit')),
    amount            bigint NOT NULL CHECK (amount > 0),
    booked_at         timestamptz NOT NULL,
    merchant_id       text,
    merchant_trade_no text,
    trade_no          text,
    instruction_id    uuid
);
CREATE INDEX statement_lines_by_day ON statement_lines (statement_date);

-- Each captured trade the bank read in the processor's reconciliation file, once per TradeNo, and what it booked
-- for it (booked_amount NULL: a sandbox rule made it omit the credit).
CREATE TABLE credited_trades (
    trade_no          text PRIMARY KEY,
    merchant_id       text NOT NULL,
    merchant_trade_no text NOT NULL,
    trade_amount      bigint NOT NULL,
    booked_amount     bigint,
    capture_date      date NOT NULL,
    read_at           timestamptz NOT NULL
);

-- How far the bank has read each day's reconciliation file (the processor's capture Seq); complete once read after
-- the day ended (plus the grace): nothing more can appear in it.
CREATE TABLE recon_cursors (
    processor_date date PRIMARY KEY,
    after_seq      bigint NOT NULL DEFAULT 0,
    complete       boolean NOT NULL DEFAULT false
);

-- Sandbox control (`cli statement-rule`): for a subject (order key merchant/MerchantTradeNo, merchant id, or '*'),
-- omit the credit or book another amount, `remaining` times (NULL: always). The most specific rule wins.
CREATE TABLE statement_rules (
    subject   text PRIMARY KEY,
    action    text NOT NULL CHECK (action IN ('omit', 'amount')),
    amount    bigint CHECK (amount IS NULL OR amount > 0),
    remaining integer
);
