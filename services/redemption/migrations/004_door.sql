-- The sender whose own request topic a parked request came on (shared/topics.py): its reply goes to the sender's
-- own reply topic. NULL: the shared topics.
ALTER TABLE pending_requests ADD COLUMN door text;
