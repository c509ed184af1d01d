-- What an accepted Issue request said about delivery (PrintType, IsImmediate, customer fields, notify URLs):
-- QueryOrderInfo answers with it. '{}' for orders read before IssueAccepted existed: every field absent.
ALTER TABLE orders ADD COLUMN details jsonb NOT NULL DEFAULT '{}';
