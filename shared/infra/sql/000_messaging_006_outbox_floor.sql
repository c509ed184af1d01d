-- The relay reads the outbox from a floor below which every row is published (shared/infra/outbox_floor.py). It may
-- move the floor past a seq once every transaction that was running when that seq had been handed out has ended,
-- which holds only if a transaction writing the outbox has its transaction id before it takes a seq:
--   * the statement trigger below gives the transaction its id (pg_current_xact_id assigns one) before any row of
--     an INSERT or COPY into the outbox evaluates its seq default;
--   * the sequence hands out one value per call, never a block cached by a session for later.
CREATE OR REPLACE FUNCTION outbox_id_before_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS outbox_id_before_seq ON outbox;
CREATE TRIGGER outbox_id_before_seq BEFORE INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_id_before_seq();

ALTER SEQUENCE outbox_seq_seq CACHE 1;
