-- The sender whose own request topic a waiting query came on (shared/topics.py): its reply goes to the sender's
-- own reply topic. NULL: the shared topics.
ALTER TABLE waiting_queries ADD COLUMN door text;
