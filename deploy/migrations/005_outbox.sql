-- The message outbox of challenge/delivery. A request writes its message here
-- and answers; a worker on any instance claims due rows (FOR UPDATE SKIP
-- LOCKED) and delivers them, so a slow or failing provider neither fails a
-- request nor loses a message.
--
-- attempts counts claims; the count a claim returned also fences that
-- attempt's outcome, so a worker whose lease ran out cannot overwrite the
-- row another worker took over. A claim pushes next_attempt_at to the end of
-- its lease, which is how a dead worker's rows become due again.
CREATE TABLE outbox_messages (
    id               uuid PRIMARY KEY,
    channel          text NOT NULL,            -- email, sms
    recipient        text NOT NULL,
    template         text NOT NULL,
    locale           text NOT NULL,
    variables_sealed bytea,                    -- JSON variables sealed with AES-256-GCM, AAD = id; NULL once sent
    status           text NOT NULL CHECK (status IN ('pending', 'sent', 'abandoned')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    last_error       text NOT NULL DEFAULT '', -- never holds a variable's value
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    sent_at          timestamptz,
    -- No code or link outlives its delivery.
    CHECK (status <> 'sent' OR variables_sealed IS NULL)
);
CREATE INDEX outbox_messages_claim_idx ON outbox_messages (status, next_attempt_at);

---- create above / drop below ----

DROP TABLE outbox_messages;
