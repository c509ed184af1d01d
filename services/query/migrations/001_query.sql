-- The query side's read models, fed only by domain events (never by another service's tables).

-- One row per order number a merchant used: issued (status 1), failed (2) or still processing (3).
CREATE TABLE orders (
    merchant_id        text NOT NULL,
    trade_no           text NOT NULL,           -- MerchantTradeNo or FreeTradeNo, as the merchant gave it
    free               boolean NOT NULL,        -- true: a FreeTradeNo (gift) order
    platform_id        text,
    status             smallint NOT NULL CHECK (status IN (1, 2, 3)),
    rtn_code           integer NOT NULL,
    remark             text NOT NULL DEFAULT '',
    ticket_trade_no    text,
    issue_type         text,
    issued_at          timestamptz,
    escrow_expiry_date date,
    total_face_value   integer NOT NULL DEFAULT 0,
    payment_trade_no   text,
    payment_amount     integer,
    payment_date       timestamptz,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, trade_no)
);
CREATE INDEX orders_by_issue_day ON orders (merchant_id, issued_at);

-- Every ticket with its current usage state. A redemption event may arrive before the order's TicketsIssued
-- (two topics): the row is then made from the event and completed (item, seq) when TicketsIssued comes.
CREATE TABLE tickets (
    ticket_no        text PRIMARY KEY,
    write_off_no     text NOT NULL UNIQUE,
    merchant_id      text NOT NULL,
    trade_no         text NOT NULL,
    seq              integer,                    -- position in TicketsIssued (the paging order)
    ticket_type      smallint NOT NULL,
    item_no          text,
    item_name        text NOT NULL DEFAULT '',
    face_value       integer NOT NULL,
    start_date       date,
    expire_date      date,
    status           smallint NOT NULL DEFAULT 1 CHECK (status IN (1, 2, 3, 4)),
    written_off_at   timestamptz,
    refunded_at      timestamptz,
    expired_at       timestamptz,
    escrow_released  boolean NOT NULL DEFAULT false,
    fee              integer NOT NULL DEFAULT 0,
    refund_amount    integer NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX tickets_of_order ON tickets (merchant_id, trade_no, seq, ticket_no);

-- Queries for an order or ticket not in the read model yet: answered when it arrives or at their deadline.
CREATE TABLE waiting_queries (
    message_id   uuid PRIMARY KEY,
    request_id   text NOT NULL,
    operation    text NOT NULL,
    merchant_id  text NOT NULL,
    platform_id  text,
    signer_id    text NOT NULL,
    subject      text NOT NULL,             -- the order number or ticket code it waits for
    data         jsonb NOT NULL,            -- the verified request Data, read again when it is answered
    deadline     timestamptz NOT NULL
);
CREATE INDEX waiting_by_subject ON waiting_queries (subject);
CREATE INDEX waiting_by_deadline ON waiting_queries (deadline);

-- The last CSV download per merchant (OrderDetail: at most one a minute).
CREATE TABLE downloads (
    merchant_id  text PRIMARY KEY,
    last_at      timestamptz NOT NULL
);
