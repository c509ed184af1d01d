-- The first verified payment of each merchant order; a different second one is a conflict, never an overwrite.
CREATE TABLE payments (
    merchant_id       text NOT NULL,
    merchant_trade_no text NOT NULL,
    trade_no          text NOT NULL,
    amount            integer NOT NULL CHECK (amount > 0),
    payment_type      text NOT NULL,
    payment_date      timestamptz NOT NULL,
    simulated         boolean NOT NULL,
    fields            jsonb NOT NULL,
    confirmed_at      timestamptz NOT NULL,
    PRIMARY KEY (merchant_id, merchant_trade_no)
);

-- Every refused payment result, with its fields (CheckMacValue included, for the investigation).
CREATE TABLE rejections (
    id                bigserial PRIMARY KEY,
    merchant_id       text NOT NULL,
    merchant_trade_no text NOT NULL,
    trade_no          text,
    reason            text NOT NULL,
    message           text NOT NULL,
    fields            jsonb NOT NULL,
    rejected_at       timestamptz NOT NULL
);
