-- The sender whose own request topic the Issue request came on (shared/topics.py): the order's later replies go to
-- the sender's own reply topic. NULL: the shared topics.
ALTER TABLE orders ADD COLUMN door text;
