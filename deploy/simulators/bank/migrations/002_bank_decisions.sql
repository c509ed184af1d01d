-- The simulated bank's decision for each instruction id, kept apart from the gateway's bank_transfers row: the
-- gateway records its row in its consumer's transaction, which a database fault can roll back after the bank
-- decided (and used up a counted rule). Asked again, the bank gives the same answer, as a real bank does for an
-- instruction id it has seen.
CREATE TABLE bank_decisions (
    instruction_id uuid PRIMARY KEY,
    accepted       boolean NOT NULL,
    reason         text NOT NULL,
    delay_seconds  double precision NOT NULL,
    decided_at     timestamptz NOT NULL DEFAULT now()
);
