-- Pruning finds old inbox keys by age (shared/infra/retention.py). The BRIN index of 004 stops telling ranges apart
-- once pruning frees pages and new keys reuse them (each block range then spans old and new times): measured on a
-- pruned inbox, a prune with nothing due still read a third of its pages, and at 35 days of keys it would read most
-- of a very large table every minute. A B-tree on processed_at stays exact; its inserts go to the right-most leaf
-- (the times increase), so the hot path pays little for it.
CREATE INDEX IF NOT EXISTS inbox_by_processed_at ON inbox (processed_at);
DROP INDEX IF EXISTS inbox_by_age;
