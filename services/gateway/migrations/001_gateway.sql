-- The answered HTTP requests: an identical request sent again gets this reply, byte for byte, and is never
-- forwarded to be decided twice. Kept as long as the services' inbox keys (002 prunes them after that): a replay
-- weeks later still finds its answer. Written by the reply tail from ecticket.ingest.replies.v1, so a reply that came
-- while the gateway that forwarded the request was down is still recorded.
CREATE TABLE replies (
    request_id  text PRIMARY KEY,
    operation   text NOT NULL,
    merchant_id text NOT NULL,
    response    text NOT NULL,  -- the §2.3 response envelope as JSON, exactly as relayed
    replied_at  timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);

-- How far the reply tail has recorded each partition of the reply topic (the next offset to read). Every gateway
-- instance reads every partition and records every gateway reply, so the furthest position is valid for all.
CREATE TABLE reply_positions (
    "partition" int PRIMARY KEY,
    next_offset bigint NOT NULL
);
