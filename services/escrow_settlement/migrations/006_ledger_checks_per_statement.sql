-- The journal's checks once per statement, not once per posting (issue 17): a batch of 300 facts writes about 450
-- postings in one statement, and each posting fired three row triggers (the two foreign keys' lookups and the
-- balance check queued for the commit), together about half of the insert's time. The same guarantees, set-wise:
-- - every posting names an account that exists (the balances' update must find every account it moves);
-- - every posting belongs to an entry of the journal;
-- - every entry a statement adds postings to sums to zero once the statement is done. Stricter than the deferred
--   check it replaces (which waited for the commit): an entry's postings are written by one statement, as
--   store/journal.py does, or by statements that each leave it balanced.
-- What the foreign keys also forbade, removing or renaming an account that postings name, the triggers on accounts
-- below forbid (journal entries were append-only already).

ALTER TABLE postings DROP CONSTRAINT postings_entry_id_fkey;
ALTER TABLE postings DROP CONSTRAINT postings_kind_owner_fkey;
DROP TRIGGER postings_must_balance ON postings;
DROP FUNCTION entry_must_balance();

CREATE OR REPLACE FUNCTION postings_move_balances() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    named bigint;
    moved bigint;
    bad record;
BEGIN
    WITH per_account AS (SELECT kind, owner, sum(amount) AS amount FROM new_postings GROUP BY kind, owner),
         updated AS (UPDATE accounts a SET balance = a.balance + p.amount FROM per_account p
                     WHERE a.kind = p.kind AND a.owner = p.owner RETURNING 1)
    SELECT (SELECT count(*) FROM per_account), (SELECT count(*) FROM updated) INTO named, moved;
    IF moved <> named THEN
        SELECT p.kind, p.owner INTO bad FROM new_postings p
        WHERE NOT EXISTS (SELECT FROM accounts a WHERE a.kind = p.kind AND a.owner = p.owner) LIMIT 1;
        RAISE EXCEPTION 'a posting names account %/%, which does not exist', bad.kind, bad.owner
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT e.entry_id, j.entry_id IS NULL AS unknown, sum(p.amount) AS total INTO bad
    FROM (SELECT DISTINCT entry_id FROM new_postings) e
    LEFT JOIN journal_entries j ON j.entry_id = e.entry_id
    JOIN postings p ON p.entry_id = e.entry_id
    GROUP BY e.entry_id, j.entry_id
    HAVING j.entry_id IS NULL OR sum(p.amount) <> 0
    LIMIT 1;
    IF NOT FOUND THEN
        RETURN NULL;
    ELSIF bad.unknown THEN
        RAISE EXCEPTION 'postings of journal entry %, which is not in the journal', bad.entry_id
            USING ERRCODE = 'foreign_key_violation';
    ELSE
        RAISE EXCEPTION 'journal entry % is unbalanced: its postings sum to %', bad.entry_id, bad.total
            USING ERRCODE = 'check_violation';
    END IF;
END $$;

CREATE FUNCTION accounts_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'accounts are never removed or renamed: postings name them (% on accounts)', TG_OP
        USING ERRCODE = 'restrict_violation';
END $$;
-- OF kind, owner: the balances' update names neither column, so it fires nothing.
CREATE TRIGGER accounts_not_renamed BEFORE UPDATE OF kind, owner ON accounts
    FOR EACH ROW WHEN (OLD.kind IS DISTINCT FROM NEW.kind OR OLD.owner IS DISTINCT FROM NEW.owner)
    EXECUTE FUNCTION accounts_are_kept();
CREATE TRIGGER accounts_not_deleted BEFORE DELETE ON accounts FOR EACH ROW EXECUTE FUNCTION accounts_are_kept();
CREATE TRIGGER accounts_not_truncated BEFORE TRUNCATE ON accounts FOR EACH STATEMENT EXECUTE FUNCTION accounts_are_kept();

