-- Reports add up the agents' steps of a range of days by time: with the call and the
-- token counts in the index, that scan reads the index alone, never the wide rows.
CREATE INDEX agent_runs_at_tokens_idx ON agent_runs(at, call_id, prompt_tokens, completion_tokens);
