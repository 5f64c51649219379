-- +goose Up
-- The staff queue's "waiting for a reply" count looked up the latest message of every open
-- conversation of the practice on each render of the dashboard, which every open dashboard
-- fetches again at each live change: about 4 ms of PostgreSQL's time per render at 2,000 open
-- conversations (make bench, README "Performance"). Who has the last word is now kept on the
-- conversation by the database itself, whatever writes the messages (the store, the demo, a bulk
-- load), and the open conversations waiting for the practice are an index of their own.
ALTER TABLE conversations ADD COLUMN patient_has_last_word boolean NOT NULL DEFAULT false;

-- +goose StatementBegin
CREATE FUNCTION conversations_note_last_word() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- changed: the rows the statement inserted, updated or deleted (the trigger's transition table).
    UPDATE conversations c
    SET patient_has_last_word = coalesce((
        SELECT a.role = 'patient'
        FROM messages m JOIN users a ON a.id = m.author_id
        WHERE m.conversation_id = c.id
        ORDER BY m.created_at DESC, m.id DESC LIMIT 1), false)
    WHERE c.id IN (SELECT DISTINCT conversation_id FROM changed);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- A trigger with a transition table takes one event, hence three.
CREATE TRIGGER messages_last_word_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversations_note_last_word();
CREATE TRIGGER messages_last_word_update AFTER UPDATE ON messages
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversations_note_last_word();
CREATE TRIGGER messages_last_word_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversations_note_last_word();

UPDATE conversations c
SET patient_has_last_word = coalesce((
    SELECT a.role = 'patient'
    FROM messages m JOIN users a ON a.id = m.author_id
    WHERE m.conversation_id = c.id
    ORDER BY m.created_at DESC, m.id DESC LIMIT 1), false);

CREATE INDEX conversations_awaiting_idx ON conversations (practice_id)
    WHERE archived_at IS NULL AND patient_has_last_word;

-- +goose Down
DROP INDEX conversations_awaiting_idx;
DROP TRIGGER messages_last_word_delete ON messages;
DROP TRIGGER messages_last_word_update ON messages;
DROP TRIGGER messages_last_word_insert ON messages;
DROP FUNCTION conversations_note_last_word();
ALTER TABLE conversations DROP COLUMN patient_has_last_word;
