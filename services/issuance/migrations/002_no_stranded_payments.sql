-- Issue 10: every payment ends as tickets or as a full refund, and the escrow end is fixed at payment time.

-- The merchant's escrow days when the payment was confirmed (PaymentConfirmed.escrow_days): issuance fixes the
-- escrow end with them, so a configuration change between payment and issuance does not move it. NULL for a
-- payment confirmed before the event carried them (the merchant's current setting is used then).
ALTER TABLE orders ADD COLUMN payment_escrow_days integer;

-- Until when a confirmed payment waits for an Issue request to claim it; after that the unclaimed-payment sweep
-- fails the order for good (status 2 without a request) and settlement refunds the payment in full.
ALTER TABLE orders ADD COLUMN claim_deadline timestamptz;

-- A row may now be failed without a request half: a payment nobody claimed. Such a row is never attached to a
-- later request (add_requests attaches only to rows without a status).
ALTER TABLE orders DROP CONSTRAINT orders_check;
ALTER TABLE orders ADD CONSTRAINT orders_request_or_unclaimed
    CHECK (request_id IS NOT NULL OR status IS NULL OR status = 2);

CREATE INDEX orders_unclaimed ON orders (claim_deadline) WHERE status IS NULL AND payment_confirmed;
