-- WhatsApp (Cloud API) channel: numbers, received webhook events, contacts, the
-- per-call conversation state and the outbound messages with their delivery status.

ALTER TABLE calls DROP CONSTRAINT calls_channel_check;
ALTER TABLE calls ADD CONSTRAINT calls_channel_check CHECK (channel IN ('web', 'api', 'whatsapp'));

-- Numbers added by admins (the first one may come from the environment instead).
CREATE TABLE whatsapp_numbers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_number_id TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    api_base TEXT NOT NULL,
    token TEXT NOT NULL,
    app_secret TEXT NOT NULL,
    verify_token TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Every accepted webhook event, once: `event_key` is the message id (inbound
-- messages) or the message id and status (statuses).
CREATE TABLE whatsapp_events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_key TEXT NOT NULL UNIQUE,
    phone_number_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('message', 'status')),
    wa_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'processed')),
    call_id BIGINT REFERENCES calls(id) ON DELETE SET NULL,
    received_at TIMESTAMPTZ NOT NULL,
    processed_at TIMESTAMPTZ
);
CREATE INDEX whatsapp_events_cleanup_idx ON whatsapp_events(status, received_at);

-- A WhatsApp user writing to one of our numbers, and the call their messages go to.
CREATE TABLE whatsapp_contacts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone_number_id TEXT NOT NULL,
    wa_id TEXT NOT NULL,
    profile_name TEXT,
    customer_id BIGINT REFERENCES customers(id),
    call_id BIGINT REFERENCES calls(id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (phone_number_id, wa_id)
);

-- A WhatsApp call's conversation: whom it is with, the customer's last message (the
-- 24-hour window) and when staff last read it (unread counts).
CREATE TABLE whatsapp_calls (
    call_id BIGINT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    contact_id BIGINT NOT NULL REFERENCES whatsapp_contacts(id),
    last_inbound_at TIMESTAMPTZ NOT NULL,
    read_at TIMESTAMPTZ
);

-- Messages we send, one per call message, with their delivery status.
CREATE TABLE whatsapp_outbound (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id BIGINT NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,
    call_id BIGINT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    phone_number_id TEXT NOT NULL,
    wa_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'delivered', 'read', 'failed')),
    wamid TEXT,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX whatsapp_outbound_call_idx ON whatsapp_outbound(call_id);
CREATE INDEX whatsapp_outbound_wamid_idx ON whatsapp_outbound(wamid);
