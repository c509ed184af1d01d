-- The event chain (shared/contracts/chain.py, docs/audit.md). The relay links rows when it first publishes them.
-- Before sending a batch it records, durably, which rows it linked in which order after which link
-- (outbox_chain_pending) and the chain's new end (outbox_chain_tail); marking the batch published stores each row's
-- link and removes the pending record. A relay or database restart in between sends that batch again with the
-- same links (the rows' bytes never change), instead of linking rows whose order may have changed meanwhile.
-- Rows published before this migration have no link: the chain starts at the first row published after it.
ALTER TABLE outbox
    ADD COLUMN IF NOT EXISTS chain_seq  bigint,
    ADD COLUMN IF NOT EXISTS chain_prev bytea,
    ADD COLUMN IF NOT EXISTS chain_link bytea;

CREATE TABLE IF NOT EXISTS outbox_chain_pending (
    first_seq  bigint PRIMARY KEY,  -- the chain seq of the batch's first row
    prev       bytea NOT NULL,      -- the link before it
    rows       bigint[] NOT NULL    -- outbox seqs, in chain order
);

CREATE TABLE IF NOT EXISTS outbox_chain_tail (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq        bigint NOT NULL,
    link       bytea NOT NULL
);
