-- Issue 16: the WriteOffNo is a bearer code. Issuance draws it, seals it into TicketsIssued and opens it only for
-- the merchant's Issue reply (built from the event, not from this table): all it keeps is the keyed hash, whose
-- uniqueness is the last guard against a repeated code. A code stored before this migration cannot be hashed
-- here (the key is not in the database): such rows keep their ticket, and the code column is dropped.
ALTER TABLE tickets DROP COLUMN write_off_no;
ALTER TABLE tickets ADD COLUMN write_off_hash text UNIQUE;
