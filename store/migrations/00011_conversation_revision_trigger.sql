-- +goose Up
-- A conversation's revision (00007_conversation_revision.sql) changed with its messages only
-- because the last-word triggers of 00005_last_word.sql updated the conversation of every
-- message written, and every update of a conversation is a new revision. The revision now has
-- triggers of its own on messages, and the last word is written only where it changes: each
-- keeps its promise without the other.

-- +goose StatementBegin
CREATE FUNCTION conversations_note_messages() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- changed: the rows the statement inserted, updated or deleted (the trigger's transition
    -- table). The update itself is the new revision (conversations_revision).
    UPDATE conversations SET revision = revision + 1
    WHERE id IN (SELECT DISTINCT conversation_id FROM changed);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- A trigger with a transition table takes one event, hence three.
CREATE TRIGGER messages_revision_insert AFTER INSERT ON messages
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversations_note_messages();
CREATE TRIGGER messages_revision_update AFTER UPDATE ON messages
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversations_note_messages();
CREATE TRIGGER messages_revision_delete AFTER DELETE ON messages
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION conversations_note_messages();

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversations_note_last_word() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c
    SET patient_has_last_word = w.last
    FROM (
        SELECT t.id, coalesce((
            SELECT a.role = 'patient'
            FROM messages m JOIN users a ON a.id = m.author_id
            WHERE m.conversation_id = t.id
            ORDER BY m.created_at DESC, m.id DESC LIMIT 1), false) AS last
        FROM conversations t
        WHERE t.id IN (SELECT DISTINCT conversation_id FROM changed)) w
    WHERE c.id = w.id AND c.patient_has_last_word IS DISTINCT FROM w.last;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversations_note_last_word() RETURNS trigger
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
DROP TRIGGER messages_revision_delete ON messages;
DROP TRIGGER messages_revision_update ON messages;
DROP TRIGGER messages_revision_insert ON messages;
DROP FUNCTION conversations_note_messages();
