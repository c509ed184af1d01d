-- Two transactions posting to the same accounts lock their rows in one order (issue 17). The balances' update
-- locks each account row it moves, in whatever order its join returns them; two instances of the service (or two
-- lanes of one) posting for the same merchants took them in opposite orders and deadlocked (17 times in four
-- benchmark days of two lanes): each deadlock costs the server's deadlock_timeout (1 s) and a retry of the batch.
-- Locking the named rows first, sorted, makes every writer queue behind the other instead. The function below is
-- 006's with that lock added at its start: a migration replaces a function whole, and 006 stays as it was applied.

CREATE OR REPLACE FUNCTION postings_move_balances() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
    named bigint;
    moved bigint;
    bad record;
BEGIN
    PERFORM FROM accounts a
    WHERE (a.kind, a.owner) IN (SELECT DISTINCT kind, owner FROM new_postings)
    ORDER BY a.kind, a.owner
    FOR NO KEY UPDATE;
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
