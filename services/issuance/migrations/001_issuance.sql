-- One row per ticket order (TicketTradeNo = MerchantTradeNo or FreeTradeNo): its Issue request and its payment
-- meet in this ONE row. Either side arrives as an INSERT ... ON CONFLICT DO UPDATE, which waits for a concurrent
-- insert of the same key and then returns both halves, so the request/payment join needs no separate lock and no
-- extra read, and works set-wise per batch.
CREATE TABLE orders (
    merchant_id        text NOT NULL,
    ticket_trade_no    text NOT NULL,
    -- The request half (NULL until the Issue request arrives). Status per ECTicket: 3 processing, 1 issued, 2 failed.
    status             smallint CHECK (status IN (1, 2, 3)),
    paid               boolean,
    request_id         text,
    request_message_id uuid,
    platform_id        text,
    signer_id          text,
    order_json         jsonb,
    total_face_value   integer,
    deadline           timestamptz,
    rtn_code           integer,
    remark             text,
    -- The payment half: issuance's copy of what payment-confirmation decided (the first confirmation wins).
    payment_confirmed  boolean NOT NULL DEFAULT false,
    payment_trade_no   text,
    payment_amount     integer,
    payment_date       timestamptz,
    payment_rejection  text,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, ticket_trade_no),
    CHECK ((status IS NULL) = (request_id IS NULL))
);
CREATE INDEX orders_waiting ON orders (deadline) WHERE status = 3;

-- Every ticket ever issued; the unique constraints are the last guard against a repeated code.
CREATE TABLE tickets (
    ticket_no       text PRIMARY KEY,
    write_off_no    text NOT NULL UNIQUE,
    merchant_id     text NOT NULL,
    ticket_trade_no text NOT NULL,
    ticket_type     smallint NOT NULL,
    item_no         text,
    face_value      integer NOT NULL CHECK (face_value >= 0),
    start_date      date,
    expire_date     date,
    FOREIGN KEY (merchant_id, ticket_trade_no) REFERENCES orders (merchant_id, ticket_trade_no)
);
CREATE INDEX tickets_by_order ON tickets (merchant_id, ticket_trade_no);

-- When the payment-deadline sweep last committed. A longer gap than usual means nothing in issuance could run (its
-- database was down or restarting, or no instance was up): time in which no payment could be taken in is not
-- counted against the orders waiting for one (the payment-deadline sweep).
CREATE TABLE sweep_clock (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    swept_at   timestamptz NOT NULL
);
