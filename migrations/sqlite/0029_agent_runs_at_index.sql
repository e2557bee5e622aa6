-- `agent_runs_at_tokens_idx` (at, call_id, prompt_tokens, completion_tokens) serves
-- every query on `at` that `agent_runs_at_idx` served: one index page fewer written
-- for every agent step a turn stores.
DROP INDEX IF EXISTS agent_runs_at_idx;
