-- Customer data the agents' tools read, calls and their transcripts, agent traces,
-- and actions waiting for a person.

CREATE TABLE tickets (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    title TEXT NOT NULL,
    description TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('open', 'in_progress', 'pending', 'resolved', 'closed')),
    priority TEXT NOT NULL CHECK (priority IN ('low', 'medium', 'high', 'critical')),
    assigned_to BIGINT REFERENCES users(id),
    created_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ
);
CREATE INDEX tickets_customer_idx ON tickets(customer_id);

CREATE TABLE payments (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    amount_cents BIGINT NOT NULL,
    description TEXT NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('cash', 'card', 'transfer', 'check')),
    processed_by BIGINT REFERENCES users(id),
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX payments_customer_idx ON payments(customer_id);

CREATE TABLE calls (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel TEXT NOT NULL CHECK (channel IN ('web', 'api')),
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
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    closed_at TIMESTAMPTZ
);
CREATE INDEX calls_status_idx ON calls(status);

CREATE TABLE messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('customer', 'ai', 'human', 'system')),
    agent TEXT,
    content TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_call_idx ON messages(call_id);

CREATE TABLE agent_runs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    turn BIGINT NOT NULL,
    agent TEXT NOT NULL,
    backend TEXT NOT NULL,
    model TEXT NOT NULL,
    prompt_tokens BIGINT NOT NULL,
    completion_tokens BIGINT NOT NULL,
    latency_ms BIGINT NOT NULL,
    tool_calls TEXT NOT NULL,
    output TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at TIMESTAMPTZ NOT NULL
);
CREATE INDEX agent_runs_call_idx ON agent_runs(call_id);

CREATE TABLE pending_actions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    call_id BIGINT REFERENCES calls(id),
    customer_id BIGINT NOT NULL REFERENCES customers(id),
    tool TEXT NOT NULL,
    params TEXT NOT NULL,
    requested_at TIMESTAMPTZ NOT NULL,
    decided_by BIGINT REFERENCES users(id),
    decision TEXT CHECK (decision IN ('approved', 'rejected')),
    decided_at TIMESTAMPTZ
);
CREATE INDEX pending_actions_open_idx ON pending_actions(decision);
