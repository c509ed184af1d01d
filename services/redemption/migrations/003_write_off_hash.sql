-- Issue 16: the WriteOffNo is a bearer code. Redemption never needs it in the clear: a request's code is hashed
-- with the platform's code key (shared/ecticket/write_off_codes.py) and tickets are looked up by that keyed hash,
-- which is also all TicketsIssued gives redemption. A parked request keeps the code it must echo in its reply
-- sealed inside `command`. Rows written before this migration held plain codes: no deployment has any (the
-- platform is not in production yet), so the columns are renamed rather than re-hashed (which needs the key).
ALTER TABLE tickets RENAME COLUMN write_off_no TO write_off_hash;
ALTER TABLE pending_requests RENAME COLUMN write_off_no TO write_off_hash;
ALTER INDEX pending_by_write_off_no RENAME TO pending_by_write_off_hash;
