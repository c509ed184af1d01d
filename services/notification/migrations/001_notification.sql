-- The notification service: where each order's notifications go, what is due, and every attempt made.

-- What TicketsIssued says about an order's notifications: the notify URLs its Issue request gave (NULL: not given,
-- the merchant's configured URL applies) and the platform that sealed the request (whose keys then seal them).
CREATE TABLE orders (
    merchant_id           text NOT NULL,
    ticket_trade_no       text NOT NULL,
    platform_id           text,
    refund_notify_url     text,
    use_status_notify_url text,
    PRIMARY KEY (merchant_id, ticket_trade_no)
);

-- One row per notification (the outbox of the merchant-facing side), written in the transaction that claims the
-- event in the inbox. The target URL is decided when it is sent, so a merchant who fixes its URL is reached.
CREATE TABLE deliveries (
    notification_id  uuid PRIMARY KEY,                -- stable: derived from the causing event
    kind             text NOT NULL CHECK (kind IN ('refund', 'use_status')),
    merchant_id      text NOT NULL,
    ticket_trade_no  text NOT NULL,
    data             text NOT NULL,                   -- the Data JSON to seal (no secrets: sealed when sent)
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'refused', 'failed')),
    event_at         timestamptz NOT NULL,            -- when the event happened (the 2 s bar counts from here)
    created_at       timestamptz NOT NULL,
    next_attempt_at  timestamptz NOT NULL,            -- due (pending), or leased while an attempt is in flight
    attempts         integer NOT NULL DEFAULT 0,
    first_attempt_at timestamptz,                     -- the 72-hour retry window starts here
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    last_error       text
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_of_merchant ON deliveries (merchant_id, created_at);
CREATE INDEX deliveries_not_delivered ON deliveries (merchant_id, created_at)
    WHERE status IN ('refused', 'failed') OR (status = 'pending' AND attempts > 0);

-- Every attempt, per merchant: the delivery log an operator (or the merchant's support) reads.
CREATE TABLE delivery_log (
    id              bigserial PRIMARY KEY,
    notification_id uuid NOT NULL,
    merchant_id     text NOT NULL,
    attempt         integer NOT NULL,
    at              timestamptz NOT NULL,
    url             text,
    outcome         text NOT NULL,                    -- delivered, failed, refused
    http_status     integer,
    detail          text NOT NULL DEFAULT '',
    duration_ms     integer NOT NULL DEFAULT 0
);
CREATE INDEX delivery_log_of_merchant ON delivery_log (merchant_id, at);
CREATE INDEX delivery_log_of_notification ON delivery_log (notification_id, attempt);
