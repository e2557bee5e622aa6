-- Agent runs of written inquiries (classification and suggested reply), so the tokens
-- they spend are recorded like a call's: a run belongs to a call or to an inquiry.
-- SQLite cannot drop a NOT NULL constraint, so the table is rebuilt (nothing
-- references it).
CREATE TABLE agent_runs_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id BIGINT REFERENCES calls(id) ON DELETE CASCADE,
    inquiry_id BIGINT REFERENCES inquiries(id) ON DELETE CASCADE,
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
    at TEXT NOT NULL,
    CHECK ((call_id IS NULL) <> (inquiry_id IS NULL))
);
INSERT INTO agent_runs_new (id, call_id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms,
    tool_calls, output, outcome, at)
    SELECT id, call_id, turn, agent, backend, model, prompt_tokens, completion_tokens, latency_ms, tool_calls, output,
    outcome, at FROM agent_runs;
DROP TABLE agent_runs;
ALTER TABLE agent_runs_new RENAME TO agent_runs;
CREATE INDEX agent_runs_call_idx ON agent_runs(call_id);
CREATE INDEX agent_runs_at_idx ON agent_runs(at);
CREATE INDEX agent_runs_at_tokens_idx ON agent_runs(at, call_id, prompt_tokens, completion_tokens);
CREATE INDEX agent_runs_inquiry_idx ON agent_runs(inquiry_id);
