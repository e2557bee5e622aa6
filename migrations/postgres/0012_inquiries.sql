-- Written inquiries: stored at once (202), classified with a suggested reply by a
-- background job (jobs.kind = 'inquiry.classify'), answered by staff through the
-- email outbox.

CREATE TABLE inquiries (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    subject TEXT NOT NULL,
    message TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'classified', 'failed', 'replied', 'closed')),
    department TEXT,
    category TEXT,
    sentiment TEXT,
    priority TEXT,
    confidence DOUBLE PRECISION,
    language TEXT CHECK (language IN ('es', 'en')),
    suggested_reply TEXT,
    error TEXT,
    job_id BIGINT REFERENCES jobs(id),
    assigned_to BIGINT REFERENCES users(id),
    reply_email_id BIGINT REFERENCES email_outbox(id),
    replied_by BIGINT REFERENCES users(id),
    ip TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    classified_at TIMESTAMPTZ,
    replied_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX inquiries_status_idx ON inquiries(status, created_at);
