-- Canned responses (issue 13): saved replies staff insert into a call they hold, with
-- variables ({{customer_name}}, {{balance}}, {{ticket_number}}, {{agent_name}}) filled
-- from the call. One shortcut per language; no department means every department.

CREATE TABLE canned_responses (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    title TEXT NOT NULL,
    shortcut TEXT NOT NULL,
    body TEXT NOT NULL,
    department TEXT,
    language TEXT NOT NULL CHECK (language IN ('es', 'en')),
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    updated_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX canned_responses_shortcut_key ON canned_responses(language, shortcut);
CREATE INDEX canned_responses_department_idx ON canned_responses(department);
