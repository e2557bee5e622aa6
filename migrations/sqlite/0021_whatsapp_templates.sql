-- WhatsApp message templates (issue 13): the texts WhatsApp allows outside the
-- 24-hour customer-service window. They are approved in Meta's WhatsApp Manager;
-- Centralita keeps a copy (name, language, category, body with {{1}}-style variables)
-- to fill, preview and send them. `phone_number_id` '' means every number (templates
-- belong to a WhatsApp Business Account, which usually holds all our numbers); a
-- number's id limits one to that number. One template per (number, name, language),
-- as Meta has one per (account, name, language).

CREATE TABLE whatsapp_templates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    phone_number_id TEXT NOT NULL DEFAULT '',
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL CHECK (category IN ('marketing', 'utility', 'authentication')),
    body TEXT NOT NULL,
    variables BIGINT NOT NULL,
    created_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    updated_by BIGINT REFERENCES users(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX whatsapp_templates_key ON whatsapp_templates(phone_number_id, name, language);

-- A template message sent: what the provider gets instead of the text (JSON:
-- {"name", "language", "parameters": [..]}); `body` keeps the filled text.
ALTER TABLE whatsapp_outbound ADD COLUMN template TEXT;
