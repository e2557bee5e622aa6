-- Live operations: the events log behind the dashboards (and Last-Event-ID catch-up),
-- staff presence, the customer's private call link, takeover/consent bookkeeping.

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    call_id BIGINT,
    data TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX events_at_idx ON events(at);

CREATE TABLE presence (
    user_id BIGINT PRIMARY KEY REFERENCES users(id),
    status TEXT NOT NULL CHECK (status IN ('online', 'away', 'busy')),
    last_seen TEXT NOT NULL
);

ALTER TABLE calls ADD COLUMN access_hash TEXT;
CREATE UNIQUE INDEX calls_access_idx ON calls(access_hash);
ALTER TABLE calls ADD COLUMN queued_at TEXT;
ALTER TABLE calls ADD COLUMN human_involved BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE calls ADD COLUMN summary_offered BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE calls ADD COLUMN summary_consent TEXT CHECK (summary_consent IN ('yes', 'no'));
ALTER TABLE calls ADD COLUMN summary_consent_at TEXT;
ALTER TABLE calls ADD COLUMN contact_name TEXT;
ALTER TABLE calls ADD COLUMN contact_email TEXT;
CREATE INDEX calls_created_idx ON calls(created_at);

ALTER TABLE messages ADD COLUMN author_id BIGINT REFERENCES users(id);
ALTER TABLE pending_actions ADD COLUMN result TEXT;
