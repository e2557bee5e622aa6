-- no-transaction
-- WhatsApp (Cloud API) channel: numbers, received webhook events, contacts, the
-- per-call conversation state and the outbound messages with their delivery status.
--
-- `calls.channel` gains 'whatsapp'. SQLite cannot change a CHECK constraint in place,
-- so the table is rebuilt (https://www.sqlite.org/lang_altertable.html#otheralter):
-- foreign keys off outside the transaction (dropping `calls` with them on would
-- cascade into its messages), the copy, the indexes again, the check, on again.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
CREATE TABLE calls_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL CHECK (channel IN ('web', 'api', 'whatsapp')),
    customer_id BIGINT REFERENCES customers(id),
    status TEXT NOT NULL CHECK (status IN ('ai', 'queued', 'human', 'closed')),
    department TEXT,
    category TEXT,
    sentiment TEXT,
    priority TEXT,
    confidence DOUBLE PRECISION,
    language TEXT,
    assigned_to BIGINT REFERENCES users(id),
    outcome TEXT,
    csat INTEGER,
    summary TEXT,
    escalation_reason TEXT,
    created_by BIGINT REFERENCES users(id),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at TEXT,
    access_hash TEXT,
    queued_at TEXT,
    human_involved BOOLEAN NOT NULL DEFAULT FALSE,
    summary_offered BOOLEAN NOT NULL DEFAULT FALSE,
    summary_consent TEXT CHECK (summary_consent IN ('yes', 'no')),
    summary_consent_at TEXT,
    contact_name TEXT,
    contact_email TEXT,
    ai_department TEXT,
    ai_category TEXT,
    ai_sentiment TEXT,
    ai_priority TEXT,
    corrected_by BIGINT REFERENCES users(id),
    corrected_at TEXT,
    transferred_at TEXT,
    quality DOUBLE PRECISION,
    recommendations TEXT NOT NULL DEFAULT '[]'
);
INSERT INTO calls_new (id, channel, customer_id, status, department, category, sentiment, priority, confidence,
    language, assigned_to, outcome, csat, summary, escalation_reason, created_by, created_at, updated_at, closed_at,
    access_hash, queued_at, human_involved, summary_offered, summary_consent, summary_consent_at, contact_name,
    contact_email, ai_department, ai_category, ai_sentiment, ai_priority, corrected_by, corrected_at, transferred_at,
    quality, recommendations)
SELECT id, channel, customer_id, status, department, category, sentiment, priority, confidence,
    language, assigned_to, outcome, csat, summary, escalation_reason, created_by, created_at, updated_at, closed_at,
    access_hash, queued_at, human_involved, summary_offered, summary_consent, summary_consent_at, contact_name,
    contact_email, ai_department, ai_category, ai_sentiment, ai_priority, corrected_by, corrected_at, transferred_at,
    quality, recommendations
FROM calls;
DROP TABLE calls;
ALTER TABLE calls_new RENAME TO calls;
CREATE INDEX calls_status_idx ON calls(status);
CREATE UNIQUE INDEX calls_access_idx ON calls(access_hash);
CREATE INDEX calls_created_idx ON calls(created_at);
CREATE INDEX calls_customer_idx ON calls(customer_id, created_at);
CREATE INDEX calls_assigned_idx ON calls(assigned_to);
CREATE INDEX calls_department_idx ON calls(department, status);

-- Numbers added by admins (the first one may come from the environment instead).
CREATE TABLE whatsapp_numbers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_number_id TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    api_base TEXT NOT NULL,
    token TEXT NOT NULL,
    app_secret TEXT NOT NULL,
    verify_token TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Every accepted webhook event, once: `event_key` is the message id (inbound
-- messages) or the message id and status (statuses).
CREATE TABLE whatsapp_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_key TEXT NOT NULL UNIQUE,
    phone_number_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'status')),
    wa_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processed')),
    call_id BIGINT REFERENCES calls(id) ON DELETE SET NULL,
    received_at TEXT NOT NULL,
    processed_at TEXT
);
CREATE INDEX whatsapp_events_cleanup_idx ON whatsapp_events(status, received_at);

-- A WhatsApp user writing to one of our numbers, and the call their messages go to.
CREATE TABLE whatsapp_contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_number_id TEXT NOT NULL,
    wa_id TEXT NOT NULL,
    profile_name TEXT,
    customer_id BIGINT REFERENCES customers(id),
    call_id BIGINT REFERENCES calls(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (phone_number_id, wa_id)
);

-- A WhatsApp call's conversation: whom it is with, the customer's last message (the
-- 24-hour window) and when staff last read it (unread counts).
CREATE TABLE whatsapp_calls (
    call_id BIGINT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    contact_id BIGINT NOT NULL REFERENCES whatsapp_contacts(id),
    last_inbound_at TEXT NOT NULL,
    read_at TEXT
);

-- Messages we send, one per call message, with their delivery status.
CREATE TABLE whatsapp_outbound (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id BIGINT NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    phone_number_id TEXT NOT NULL,
    wa_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    wamid TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX whatsapp_outbound_call_idx ON whatsapp_outbound(call_id);
CREATE INDEX whatsapp_outbound_wamid_idx ON whatsapp_outbound(wamid);
PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
