-- Each ticket's usage state, learned from TicketsIssued and changed only through the pure core (domain.decide).
-- A request locks its ticket's row (SELECT ... FOR UPDATE): concurrent requests for one ticket, from any
-- partition or instance, are decided one after the other.
CREATE TABLE tickets (
    ticket_no          text PRIMARY KEY,
    write_off_no       text NOT NULL UNIQUE,
    merchant_id        text NOT NULL,
    platform_id        text,
    ticket_trade_no    text NOT NULL,
    merchant_trade_no  text,
    free_trade_no      text,
    ticket_type        smallint NOT NULL CHECK (ticket_type IN (1, 2)),
    item_no            text,
    item_name          text NOT NULL,
    face_value         integer NOT NULL CHECK (face_value >= 0),
    start_date         date,
    expire_date        date,
    escrow_expiry_date date,
    refund_fee_rule    jsonb NOT NULL,
    status             smallint NOT NULL DEFAULT 1 CHECK (status IN (1, 2, 3, 4)),
    escrow_released    boolean NOT NULL DEFAULT false,
    written_off_at     timestamptz,
    refunded_at        timestamptz,
    -- The expiry schedule: when the next time-driven transition is due (escrow release of an unused pickup
    -- voucher, usage expiry of an unused gift voucher), in real UTC; NULL when nothing is pending.
    due_at             timestamptz,
    issued_event_id    uuid NOT NULL,
    updated_at         timestamptz NOT NULL,
    CHECK (ticket_type = 2 OR escrow_expiry_date IS NOT NULL),  -- every pickup voucher is escrowed
    CHECK (NOT (ticket_type = 1 AND status = 4)),                -- pickup vouchers never expire for the consumer
    CHECK (status <> 2 OR written_off_at IS NOT NULL),
    CHECK (status <> 3 OR refunded_at IS NOT NULL)
);
CREATE INDEX tickets_by_order ON tickets (merchant_id, ticket_trade_no);
-- The scheduler's queue: an indexed range scan `due_at <= now` in due order, for every merchant on real time...
CREATE INDEX tickets_due ON tickets (due_at) WHERE due_at IS NOT NULL;
-- ...and `merchant_id = X AND due_at <= now + offset` for the few sandbox merchants whose test clock runs ahead.
CREATE INDEX tickets_due_by_merchant ON tickets (merchant_id, due_at) WHERE due_at IS NOT NULL;

-- Requests whose ticket is not known yet (TicketsIssued travels on another topic and may arrive later).
-- Decided when the ticket arrives, or refused with TICKET_NOT_FOUND at `deadline`; never decided on invented state.
CREATE TABLE pending_requests (
    message_id   uuid PRIMARY KEY,
    seq          bigint GENERATED ALWAYS AS IDENTITY,
    request_id   text NOT NULL,
    operation    text NOT NULL,
    merchant_id  text NOT NULL,
    platform_id  text,
    signer_id    text NOT NULL,
    ticket_no    text,
    write_off_no text,
    command      jsonb NOT NULL,
    received_at  timestamptz NOT NULL,
    deadline     timestamptz NOT NULL,
    CHECK (ticket_no IS NOT NULL OR write_off_no IS NOT NULL)
);
CREATE INDEX pending_by_ticket_no ON pending_requests (ticket_no) WHERE ticket_no IS NOT NULL;
CREATE INDEX pending_by_write_off_no ON pending_requests (write_off_no) WHERE write_off_no IS NOT NULL;
CREATE INDEX pending_by_deadline ON pending_requests (deadline);
