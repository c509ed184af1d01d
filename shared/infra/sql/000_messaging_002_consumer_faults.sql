-- Dead letters become countable and replayable, and a message that kills its consumer is noticed.

-- stage: where it failed (parse, handle, crash: the process died while handling it, repeatedly).
-- touches_money: a fact the service never applied (not a stranger's garbage on an ingestion topic); `admin check`
-- reports every unresolved one. redrive_requested_at: an operator asked the service to apply it again.
ALTER TABLE dead_letters
    ADD COLUMN IF NOT EXISTS consumer text NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS stage text NOT NULL DEFAULT 'handle',
    ADD COLUMN IF NOT EXISTS touches_money boolean NOT NULL DEFAULT true,
    ADD COLUMN IF NOT EXISTS redrives int NOT NULL DEFAULT 0,
    ADD COLUMN IF NOT EXISTS redrive_requested_at timestamptz,
    ADD COLUMN IF NOT EXISTS resolved_at timestamptz,
    ADD COLUMN IF NOT EXISTS resolution text;
CREATE INDEX IF NOT EXISTS dead_letters_to_redrive ON dead_letters (id)
    WHERE redrive_requested_at IS NOT NULL AND resolved_at IS NULL;

-- Per consumer partition: the offsets of the last fetched batch and how often processing started inside them
-- without getting past them. Only a process crash leaves a batch unfinished and re-fetched, so a second start
-- inside the same range means the range may hold a message that kills the consumer: it is then handled one
-- message at a time, and a message that was being handled alone when the process died is dead-lettered.
CREATE TABLE IF NOT EXISTS consumer_attempts (
    consumer        text NOT NULL,
    topic           text NOT NULL,
    partition       int NOT NULL,
    first_offset    bigint NOT NULL,
    last_offset     bigint NOT NULL,
    attempts        int NOT NULL,
    single_offset   bigint,
    single_attempts int NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, topic, partition)
);
