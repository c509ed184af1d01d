-- The escrow ledger: a double-entry journal (append-only), account balances kept by the database from it, the
-- ledger core's per-order and per-instruction state (JSON, versioned), and what operations must look at.

-- Accounts: a kind and an owner (order key, merchant id, or 'escrow-bank'). `balance` is raw (debit positive,
-- credit negative) and maintained only by the postings trigger below, so it always equals the journal.
CREATE TABLE accounts (
    kind        text NOT NULL,
    owner       text NOT NULL,
    merchant_id text,  -- NULL for the bank's own account
    balance     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (kind, owner),
    -- Escrow held for an order is a credit balance (money owed); it may never turn into a debit.
    CONSTRAINT escrow_held_never_negative CHECK (kind <> 'escrow_held' OR balance <= 0)
);
CREATE INDEX accounts_by_owner ON accounts (owner);
CREATE INDEX accounts_by_merchant ON accounts (merchant_id, kind);

CREATE TABLE journal_entries (
    entry_id      uuid PRIMARY KEY,  -- uuid5(cause, kind): a replay produces the same id
    seq           bigserial NOT NULL UNIQUE,  -- recording order, for statements
    cause_id      text NOT NULL,  -- envelope event id of the fact (or the instruction id)
    business_date date NOT NULL,  -- Asia/Taipei business day of the fact, never of its arrival
    kind          text NOT NULL,
    merchant_id   text NOT NULL,
    order_key     text,
    ticket_no     text,
    memo          text NOT NULL DEFAULT '',
    recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX journal_by_order ON journal_entries (order_key) WHERE order_key IS NOT NULL;
CREATE INDEX journal_by_merchant_day ON journal_entries (merchant_id, business_date);

-- Integer NT$ amounts; zero-amount postings are never written (an entry with none is a "considered" memo).
-- business_date and entry_kind are the entry's, copied so as-of balances need no join.
CREATE TABLE postings (
    entry_id      uuid NOT NULL REFERENCES journal_entries,
    line          smallint NOT NULL,
    kind          text NOT NULL,
    owner         text NOT NULL,
    amount        bigint NOT NULL CHECK (amount <> 0),
    business_date date NOT NULL,
    entry_kind    text NOT NULL,
    PRIMARY KEY (entry_id, line),
    FOREIGN KEY (kind, owner) REFERENCES accounts
);
CREATE INDEX postings_by_account ON postings (kind, owner, business_date);

-- The journal is append-only: a correction is a new entry, never an edit.
CREATE FUNCTION journal_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is append-only (% on %)', TG_OP, TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER journal_entries_append_only BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER postings_append_only BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER journal_entries_not_truncated BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();
CREATE TRIGGER postings_not_truncated BEFORE TRUNCATE ON postings
    FOR EACH STATEMENT EXECUTE FUNCTION journal_is_append_only();

-- Every statement that inserts postings moves their accounts' balances by its net amount per account, so a
-- balance is always the sum of its journal (nothing else writes it), and the escrow CHECK sees the result of
-- every statement. (Once per statement, not per row: a batch of 500 facts updates each account row once.)
-- (SET search_path FROM CURRENT: the functions see this schema whoever's session fires them.)
CREATE FUNCTION postings_move_balances() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE accounts a SET balance = a.balance + moved.amount
    FROM (SELECT kind, owner, sum(amount) AS amount FROM new_postings GROUP BY kind, owner) moved
    WHERE a.kind = moved.kind AND a.owner = moved.owner;
    RETURN NULL;
END $$;
CREATE TRIGGER postings_move_balances AFTER INSERT ON postings REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION postings_move_balances();

-- Checked at commit, when all of an entry's postings are in: they must sum to zero. An entry with no postings
-- (a "considered" memo) has nothing to check. This is the database's own line of defence behind the core.
CREATE FUNCTION entry_must_balance() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    total bigint;
BEGIN
    SELECT sum(amount) INTO total FROM postings WHERE entry_id = NEW.entry_id;
    IF total <> 0 THEN
        RAISE EXCEPTION 'journal entry % is unbalanced: its postings sum to %', NEW.entry_id, total
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER postings_must_balance AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION entry_must_balance();

-- The core's state of one order (payment, vouchers and where their money is, parked facts, causes seen), as the
-- JSON of services/escrow_settlement/codec.py (format version inside); `version` counts saves.
CREATE TABLE order_books (
    order_key   text PRIMARY KEY,
    merchant_id text NOT NULL,
    status      text NOT NULL,
    parked      integer NOT NULL,  -- facts waiting for a prerequisite
    book        jsonb NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    waiting_since timestamptz,  -- when it first had parked facts (the overdue sweep raises them)
    overdue_raised boolean NOT NULL DEFAULT false,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX order_books_waiting ON order_books (waiting_since) WHERE waiting_since IS NOT NULL AND NOT overdue_raised;

-- One row per bank transfer: the instruction, its bank status, and the core's transfer book.
CREATE TABLE transfers (
    instruction_id  uuid PRIMARY KEY,
    subject         text,  -- merchant id (payout) or order key (refund); NULL while only an outcome is known
    merchant_id     text NOT NULL,
    transfer        text NOT NULL CHECK (transfer IN ('payout', 'refund')),
    business_date   date,
    attempt         integer,
    amount          bigint,
    status          text NOT NULL CHECK (status IN ('awaiting_instruction', 'sent', 'confirmed', 'rejected')),
    reason          text,
    book            jsonb NOT NULL,
    version         integer NOT NULL DEFAULT 1,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX transfers_by_subject ON transfers (subject, business_date);
CREATE INDEX transfers_in_flight ON transfers (subject) WHERE status = 'sent';

CREATE TABLE ledger_exceptions (
    exception_id uuid PRIMARY KEY,
    kind         text NOT NULL,
    cause_id     text NOT NULL,
    subject      text NOT NULL,
    merchant_id  text NOT NULL,
    detail       text NOT NULL,
    raised_at    timestamptz NOT NULL
);

CREATE TABLE alerts (
    alert_id    uuid PRIMARY KEY,
    kind        text NOT NULL,
    severity    text NOT NULL,
    subject     text NOT NULL,
    merchant_id text NOT NULL,
    detail      text NOT NULL,
    cause_id    text NOT NULL,
    raised_at   timestamptz NOT NULL
);

-- A subject (order key or merchant id) whose invariants failed: its facts wait here, unapplied, until released.
CREATE TABLE quarantine (
    subject     text PRIMARY KEY,
    merchant_id text NOT NULL,
    violations  jsonb NOT NULL,
    since       timestamptz NOT NULL
);
CREATE TABLE quarantined_facts (
    cause_id    text PRIMARY KEY,
    subject     text NOT NULL,
    fact        jsonb NOT NULL,
    received_at timestamptz NOT NULL
);
CREATE INDEX quarantined_facts_by_subject ON quarantined_facts (subject);

-- Payout runs: requested by the timer (each ended business day) or by an operator; done by the service.
CREATE TABLE payout_runs (
    run_id        bigserial PRIMARY KEY,
    business_date date NOT NULL,
    merchant_ids  text[],  -- NULL: every merchant
    requested_by  text NOT NULL,
    requested_at  timestamptz NOT NULL,
    finished_at   timestamptz,
    summary       jsonb
);
CREATE INDEX payout_runs_open ON payout_runs (run_id) WHERE finished_at IS NULL;
-- The timer requests each ended business day once, whichever instance gets there first.
CREATE UNIQUE INDEX payout_runs_daily ON payout_runs (business_date) WHERE requested_by = 'timer';
