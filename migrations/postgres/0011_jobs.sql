-- Background jobs: one durable queue for work that must not wait for (or be lost by)
-- the request that asked for it. Claimed under a lease (claim_token is the lease
-- owner, claimed_until its end), retried with backoff, dead after max_attempts.

CREATE TABLE jobs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'retrying', 'done', 'dead')),
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    next_attempt_at TIMESTAMPTZ,
    claim_token TEXT,
    claimed_until TIMESTAMPTZ,
    last_error TEXT,
    result TEXT,
    dedupe_key TEXT UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX jobs_due_idx ON jobs(status, next_attempt_at);
CREATE INDEX jobs_kind_idx ON jobs(kind, status);
