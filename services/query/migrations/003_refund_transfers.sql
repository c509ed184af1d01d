-- The bank's side of refunds (QueryRefundInfo): each refund transfer settlement instructed for an order, and the
-- bank's answer. A rejected transfer is instructed again under a new id, so an order may list several.
CREATE TABLE refund_transfers (
    instruction_id   uuid PRIMARY KEY,
    merchant_id      text NOT NULL,
    ticket_trade_no  text NOT NULL,
    amount           integer NOT NULL,
    business_date    date,
    status           text NOT NULL CHECK (status IN ('instructed', 'confirmed', 'rejected')),
    answered_at      timestamptz
);
CREATE INDEX refund_transfers_of_order ON refund_transfers (merchant_id, ticket_trade_no);
