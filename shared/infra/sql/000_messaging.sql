-- Inbox, outbox and dead letters: the same three tables in every service's schema.

-- One row per input message ever processed; a duplicate key means "already done".
CREATE TABLE IF NOT EXISTS inbox (
    message_id   uuid PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Events to publish, appended in the same transaction as the state change that caused them.
-- Rows are marked published, never deleted: the outbox is also the service's own event history.
CREATE TABLE IF NOT EXISTS outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL,
    key          text NOT NULL,
    value        bytea NOT NULL,
    event_type   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

-- Messages that could not be parsed or handled, with their raw bytes, so nothing is lost.
CREATE TABLE IF NOT EXISTS dead_letters (
    id           bigserial PRIMARY KEY,
    topic        text NOT NULL,
    partition    int NOT NULL,
    "offset"     bigint NOT NULL,
    key          bytea,
    value        bytea NOT NULL,
    error        text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (topic, partition, "offset")
);
