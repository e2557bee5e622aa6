-- Records, history and reports (issue 11): ticket history, payments tied to calls,
-- the AI's classification kept beside staff corrections, routing recommendations and
-- the supervisor's quality, departments for staff, transfers, internal notes, the
-- staff assistant's actions waiting for a confirm click, per-user alert opt-in, and
-- the indexes the lists, filters and reports need.

ALTER TABLE customers ADD COLUMN updated_at TEXT;
ALTER TABLE customers ADD COLUMN notes TEXT NOT NULL DEFAULT '';
CREATE INDEX customers_name_idx ON customers(name);

ALTER TABLE tickets ADD COLUMN call_id BIGINT REFERENCES calls(id);
ALTER TABLE tickets ADD COLUMN created_by BIGINT REFERENCES users(id);
ALTER TABLE tickets ADD COLUMN updated_at TEXT;
CREATE INDEX tickets_status_idx ON tickets(status, created_at);
CREATE INDEX tickets_assignee_idx ON tickets(assigned_to);
CREATE INDEX tickets_created_idx ON tickets(created_at);
CREATE INDEX tickets_call_idx ON tickets(call_id);

-- Every change to a ticket: who, which field, from what to what.
CREATE TABLE ticket_history (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_id BIGINT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    actor_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    actor TEXT NOT NULL,
    field TEXT NOT NULL CHECK (field IN ('created', 'status', 'priority', 'assigned_to', 'title', 'description', 'comment')),
    old_value TEXT,
    new_value TEXT,
    at TEXT NOT NULL
);
CREATE INDEX ticket_history_ticket_idx ON ticket_history(ticket_id, id);

ALTER TABLE payments ADD COLUMN call_id BIGINT REFERENCES calls(id);
CREATE INDEX payments_at_idx ON payments(at);

-- The AI's latest classification (department, category, sentiment, priority) is kept in
-- ai_*; the plain columns are the effective values (the AI's until staff corrected
-- them or transferred the call).
ALTER TABLE calls ADD COLUMN ai_department TEXT;
ALTER TABLE calls ADD COLUMN ai_category TEXT;
ALTER TABLE calls ADD COLUMN ai_sentiment TEXT;
ALTER TABLE calls ADD COLUMN ai_priority TEXT;
ALTER TABLE calls ADD COLUMN corrected_by BIGINT REFERENCES users(id);
ALTER TABLE calls ADD COLUMN corrected_at TEXT;
ALTER TABLE calls ADD COLUMN transferred_at TEXT;
ALTER TABLE calls ADD COLUMN quality DOUBLE PRECISION;
ALTER TABLE calls ADD COLUMN recommendations TEXT NOT NULL DEFAULT '[]';
CREATE INDEX calls_customer_idx ON calls(customer_id, created_at);
CREATE INDEX calls_assigned_idx ON calls(assigned_to);
CREATE INDEX calls_department_idx ON calls(department, status);
CREATE INDEX agent_runs_at_idx ON agent_runs(at);

CREATE TABLE call_transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    from_department TEXT,
    to_department TEXT,
    from_user BIGINT REFERENCES users(id) ON DELETE SET NULL,
    to_user BIGINT REFERENCES users(id) ON DELETE SET NULL,
    reason TEXT NOT NULL,
    by_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    at TEXT NOT NULL
);
CREATE INDEX call_transfers_call_idx ON call_transfers(call_id, id);

-- Notes for staff only: never shown to the customer, never in a prompt.
CREATE TABLE call_notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    author_id BIGINT REFERENCES users(id) ON DELETE SET NULL,
    author TEXT NOT NULL,
    content TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX call_notes_call_idx ON call_notes(call_id, id);

ALTER TABLE users ADD COLUMN department TEXT REFERENCES departments(code);
ALTER TABLE users ADD COLUMN notify_escalations BOOLEAN NOT NULL DEFAULT FALSE;

-- What the staff assistant proposes that needs its user's explicit confirm click
-- (a payment), bound to the exact customer and amount.
CREATE TABLE assistant_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tool TEXT NOT NULL,
    customer_id BIGINT REFERENCES customers(id),
    amount_cents BIGINT,
    params TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('waiting', 'confirmed', 'cancelled', 'expired')),
    result TEXT,
    created_at TEXT NOT NULL,
    decided_at TEXT
);
CREATE INDEX assistant_actions_user_idx ON assistant_actions(user_id, status);
