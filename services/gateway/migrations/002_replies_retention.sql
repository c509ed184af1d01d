-- Replies are kept as long as the services' inbox keys (MESSAGING_RETENTION_DAYS, shared/infra/retention.py) and
-- then pruned, oldest first. Rows are recorded in time order, so a block range index finds the old ones cheaply.
CREATE INDEX IF NOT EXISTS replies_by_age ON replies USING brin (recorded_at) WITH (autosummarize = on);
