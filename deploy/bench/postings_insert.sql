-- Where one batch of postings' insert time goes (docs/benchmarks.md, "The ledger's checks once per statement"):
-- 320 journal entries and their postings copied under new ids, the postings inserted in one statement as the ledger
-- does, under EXPLAIN ANALYZE (which lists each trigger's time), then the checks deferred to the commit (none since
-- migration 006). Everything is rolled back. It needs a ledger with entries: run it after a settlement benchmark,
--     source .run/<instance>/env && psql "$DATABASE_URL" -f deploy/bench/postings_insert.sql
-- The escrow CHECK is dropped inside the transaction: copied releases would otherwise drive copied orders' escrow
-- below zero. It comes back with the rollback.
SET search_path = escrow_settlement;
BEGIN;
ALTER TABLE accounts DROP CONSTRAINT escrow_held_never_negative;
CREATE TEMP TABLE copied ON COMMIT DROP AS
    SELECT entry_id, gen_random_uuid() AS new_id FROM (SELECT DISTINCT entry_id FROM postings LIMIT 320) e;
INSERT INTO journal_entries (entry_id, cause_id, business_date, kind, merchant_id, order_key, ticket_no, memo)
    SELECT c.new_id, j.cause_id || '/copy', j.business_date, j.kind, j.merchant_id, j.order_key, j.ticket_no, j.memo
    FROM copied c JOIN journal_entries j USING (entry_id);
EXPLAIN (ANALYZE, TIMING)
INSERT INTO postings (entry_id, line, kind, owner, amount, business_date, entry_kind)
    SELECT c.new_id, p.line, p.kind, p.owner, p.amount, p.business_date, p.entry_kind
    FROM copied c JOIN postings p USING (entry_id);
\timing on
SET CONSTRAINTS ALL IMMEDIATE;
ROLLBACK;
