-- A customer message stored for an AI turn that has not ended yet: set with the
-- message, cleared in the turn's own transaction (answered, or left silent because a
-- person holds the call). A node that dies leaves it set, for every message it had
-- queued, not only the call's last one; the turn recovery hands such calls to a
-- person. The partial index holds only the few messages whose turn is under way.
ALTER TABLE messages ADD COLUMN awaiting_turn BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX messages_awaiting_turn_idx ON messages(call_id) WHERE awaiting_turn;
-- Turns cut short before this version, by the rule it used: an `ai` call whose last
-- message is the customer's, or a `queued` one whose agents ran after it.
UPDATE messages SET awaiting_turn = TRUE WHERE id IN (
    SELECT m.id FROM calls c JOIN messages m ON m.id = (SELECT MAX(id) FROM messages WHERE call_id = c.id)
    WHERE c.status IN ('ai', 'queued') AND m.role = 'customer'
    AND (c.status = 'ai' OR EXISTS (SELECT 1 FROM agent_runs r WHERE r.call_id = c.id AND r.at >= m.at))
);
