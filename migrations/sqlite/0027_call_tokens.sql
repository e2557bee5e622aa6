-- What each call has spent on a remote model (prompt and completion tokens of its
-- agent steps, the built-in engine excluded), kept on the call so that a turn reads its
-- token budget with the call itself instead of summing agent_runs.
ALTER TABLE calls ADD COLUMN ai_tokens BIGINT NOT NULL DEFAULT 0;
UPDATE calls SET ai_tokens = (
    SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM agent_runs
    WHERE agent_runs.call_id = calls.id AND agent_runs.backend <> 'builtin'
);
