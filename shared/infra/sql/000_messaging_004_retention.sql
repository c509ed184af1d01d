-- Bounded storage (shared/infra/retention.py): old inbox keys are found by age. BRIN: inbox keys are inserted in
-- time order, so a block range index is tiny and cheap to keep up on the hot path (a B-tree would add an index
-- insert to every message).
CREATE INDEX IF NOT EXISTS inbox_by_age ON inbox USING brin (processed_at) WITH (autosummarize = on);
