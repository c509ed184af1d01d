-- Marking a row published becomes a HOT update (shared/infra/outbox_floor.py, docs/decisions.md "Marking the
-- outbox published in place"):
--   * no index names published_at any more: an index over a column an UPDATE changes (a partial index's WHERE
--     included) makes PostgreSQL write a new entry in every index of the table, the primary key and event_id's
--     unique index too, for every row marked;
--   * 60 % of each page is left free when rows are written, so the marked versions of all its rows fit on the page
--     (an update that must move to another page cannot be HOT either). The marked version is some 90 bytes longer
--     (the published time and the chain link's three columns) and a relay marks a page's rows in one statement,
--     before any old version may be pruned: rows of r bytes all fit when the fill is at most r / (2r + 90), 0.40
--     from 240 bytes on (events are 400-900 bytes; tests/integration/test_outbox_floor.py checks it).
-- The relay finds unpublished rows from its floor through the primary key instead, and keeps the floor here so a
-- new relay term, the metrics and the ops view (outbox_backlog()) start from it, not from the outbox's first row.
CREATE TABLE IF NOT EXISTS outbox_floor (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    seq      bigint NOT NULL  -- every outbox row below it is published, or was never committed and never will be
);
-- 0, not the lowest unpublished seq: instances of the old code may still be writing while this runs, and a row
-- whose transaction commits after this statement could sit below any higher value. The first relay term reads
-- from 0 once, then moves the floor as the probe allows.
INSERT INTO outbox_floor (seq) VALUES (0) ON CONFLICT (only_row) DO NOTHING;

-- What is left to publish, as every reader outside the relay should ask for it: how many rows, the lowest seq, the
-- oldest row's time. A function, not a view: in a view the floor is a sub-select whose value the planner does not
-- know, and it scans the whole table; EXECUTE plans the statement with the floor's value, a range of the primary key.
CREATE OR REPLACE FUNCTION outbox_backlog(OUT rows bigint, OUT first_seq bigint, OUT oldest timestamptz)
    LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
BEGIN
    EXECUTE 'SELECT count(*), min(seq), min(created_at) FROM outbox WHERE published_at IS NULL AND seq >= $1'
        INTO rows, first_seq, oldest USING (SELECT seq FROM outbox_floor);
END
$$;

DROP INDEX IF EXISTS outbox_unpublished;
ALTER TABLE outbox SET (fillfactor = 40);
