-- Messages some service dead-lettered that carried a money fact (learned from ecticket.platform.rejections.v1):
-- until one is re-driven or dismissed, the ledger may be missing money, and `admin check` says so.
CREATE TABLE IF NOT EXISTS unapplied_messages (
    consumer     text NOT NULL,
    source_topic text NOT NULL,
    partition    int NOT NULL,
    "offset"     bigint NOT NULL,
    stage        text NOT NULL,
    error        text NOT NULL,
    rejected_at  timestamptz NOT NULL,
    resolved_at  timestamptz,
    resolution   text,
    PRIMARY KEY (consumer, source_topic, partition, "offset")
);
