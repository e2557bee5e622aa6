-- Agent runs of written inquiries (classification and suggested reply), so the tokens
-- they spend are recorded like a call's: a run belongs to a call or to an inquiry.
ALTER TABLE agent_runs ALTER COLUMN call_id DROP NOT NULL;
ALTER TABLE agent_runs ADD COLUMN inquiry_id BIGINT REFERENCES inquiries(id) ON DELETE CASCADE;
ALTER TABLE agent_runs ADD CONSTRAINT agent_runs_owner_check CHECK ((call_id IS NULL) <> (inquiry_id IS NULL));
CREATE INDEX agent_runs_inquiry_idx ON agent_runs(inquiry_id);
