-- Issuance's own copy of what payment-confirmation decided about each merchant order.
CREATE TABLE payments (
    merchant_id       text NOT NULL,
    merchant_trade_no text NOT NULL,
    confirmed         boolean NOT NULL DEFAULT false,
    trade_no          text,
    amount            integer,
    payment_date      timestamptz,
    rejection         text,
    updated_at        timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, merchant_trade_no)
);

-- One row per ticket order (TicketTradeNo = MerchantTradeNo or FreeTradeNo). Status per ECTicket:
-- 3 processing (a paid order waiting for its payment), 1 issued, 2 failed.
CREATE TABLE orders (
    merchant_id        text NOT NULL,
    ticket_trade_no    text NOT NULL,
    paid               boolean NOT NULL,
    status             smallint NOT NULL CHECK (status IN (1, 2, 3)),
    request_id         text NOT NULL,
    request_message_id uuid NOT NULL,
    platform_id        text,
    signer_id          text NOT NULL,
    order_json         jsonb NOT NULL,
    total_face_value   integer NOT NULL,
    deadline           timestamptz NOT NULL,
    rtn_code           integer,
    remark             text,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, ticket_trade_no)
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
