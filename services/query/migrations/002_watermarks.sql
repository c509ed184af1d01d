-- Read-your-writes: how far the read model has applied each event partition (the next offset to apply), and the
-- end offsets a waiting query must see applied before it is answered (its watermark; {} for none).
CREATE TABLE applied_offsets (
    topic        text NOT NULL,
    partition    integer NOT NULL,
    next_offset  bigint NOT NULL,
    PRIMARY KEY (topic, partition)
);
ALTER TABLE waiting_queries ADD COLUMN watermark jsonb NOT NULL DEFAULT '{}';
