-- The simulated payment processor (sandbox): every trade it ever recorded. A trade is never deleted; capture
-- only fills captured_at and capture_seq. The AIO results it delivers are rows of this schema's outbox.

-- TradeNo: the Taipei date the trade was made on, then a sequence number (20 digits, like ECPay's numeric ones).
CREATE SEQUENCE trade_numbers;
-- The reconciliation file's Seq. Handed out only under the capture lock (store.py), so sequence numbers become
-- visible in order and a poller reading "Seq > the last one seen" skips none.
CREATE SEQUENCE capture_numbers;

CREATE TABLE trades (
    trade_no          text PRIMARY KEY,
    merchant_id       text NOT NULL,
    merchant_trade_no text NOT NULL,
    attempt           integer NOT NULL CHECK (attempt >= 1),  -- 1: the order's trade; 2, 3, ...: charged Again
    amount            bigint NOT NULL CHECK (amount > 0),
    payment_type      text NOT NULL,
    payment_date      timestamptz NOT NULL,  -- PaymentDate as the result states it (the merchant's clock, or asked)
    trade_date        timestamptz NOT NULL,  -- TradeDate
    created_at        timestamptz NOT NULL,  -- real time
    captured_at       timestamptz,           -- real time; NULL: authorised, not captured (TradeStatus 0)
    capture_seq       bigint UNIQUE,
    CHECK ((captured_at IS NULL) = (capture_seq IS NULL)),
    UNIQUE (merchant_id, merchant_trade_no, attempt)
);
CREATE INDEX trades_captured ON trades (captured_at) WHERE captured_at IS NOT NULL;
