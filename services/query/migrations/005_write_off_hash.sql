-- Issue 16: the WriteOffNo is a bearer code. The read model keeps its keyed hash (QueryTicketStatus by WriteOffNo
-- looks tickets up by it) and its ciphertext from TicketsIssued, opened only to answer the ticket's own merchant.
-- A row a redemption event made before its TicketsIssued has no ciphertext until TicketsIssued comes. Rows from
-- before this migration held plain codes: no deployment has any (not in production yet), so the column is renamed
-- rather than re-hashed (which needs the key, not in the database).
ALTER TABLE tickets RENAME COLUMN write_off_no TO write_off_hash;
ALTER TABLE tickets ADD COLUMN write_off_sealed text;
