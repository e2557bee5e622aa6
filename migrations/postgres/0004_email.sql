-- The email outbox: every email is a row written in the same transaction as the
-- decision to send it; a worker delivers it and records each attempt.

CREATE TABLE email_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('summary', 'information', 'follow_up')),
    call_id BIGINT REFERENCES calls(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    language TEXT NOT NULL CHECK (language IN ('es', 'en')),
    to_address TEXT NOT NULL,
    to_name TEXT NOT NULL,
    subject TEXT NOT NULL,
    html TEXT NOT NULL,
    text TEXT NOT NULL,
    fields TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting_confirmation', 'queued', 'retrying', 'sent', 'failed', 'declined')),
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    next_attempt_at TIMESTAMPTZ,
    claim_token TEXT,
    claimed_until TIMESTAMPTZ,
    dedupe_key TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL UNIQUE,
    last_error TEXT,
    created_by BIGINT REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    confirmed_by_customer_at TIMESTAMPTZ,
    confirmed_via TEXT CHECK (confirmed_via IN ('customer', 'staff')),
    confirmed_by BIGINT REFERENCES users(id),
    sent_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX email_outbox_due_idx ON email_outbox(status, next_attempt_at);
CREATE INDEX email_outbox_call_idx ON email_outbox(call_id);

CREATE TABLE email_attempts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email_id BIGINT NOT NULL REFERENCES email_outbox(id) ON DELETE CASCADE,
    attempt BIGINT NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('sent', 'retry', 'failed')),
    detail TEXT NOT NULL
);
CREATE INDEX email_attempts_email_idx ON email_attempts(email_id);
