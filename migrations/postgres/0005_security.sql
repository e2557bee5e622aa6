-- Security fixes: a customer record first created from the public page is only a
-- claim until staff confirm it (or enter the same details); replays of a call's
-- events read that call's rows only.

ALTER TABLE customers ADD COLUMN verified BOOLEAN NOT NULL DEFAULT TRUE;
CREATE INDEX events_call_idx ON events(call_id, id);
