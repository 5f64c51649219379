-- +goose Up
-- A conversation's revision changes with anything a list shows of it: its messages (sent,
-- cancelled, acted on), its state, and the names on it. A list reads each page's conversations
-- and their revisions first, and then the messages only of those it does not already hold at that
-- revision (store/conversation_cache.go): after a live event, one conversation of twenty instead
-- of twenty.
ALTER TABLE conversations ADD COLUMN revision bigint NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE FUNCTION conversations_next_revision() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- Every update of a conversation is a new revision. Every statement that writes messages
-- updates their conversations too: the last-word triggers of 00005_last_word.sql.
CREATE TRIGGER conversations_revision BEFORE UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversations_next_revision();

-- +goose StatementBegin
CREATE FUNCTION conversations_note_names() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- The conversations that show this person's name or initials: theirs as the patient, and
    -- those with a message they wrote or were asked to answer.
    UPDATE conversations SET revision = revision + 1
    WHERE patient_id = NEW.id
       OR id IN (SELECT conversation_id FROM messages WHERE author_id = NEW.id OR requested_staff_id = NEW.id);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER users_names AFTER UPDATE OF full_name, initials, role ON users
    FOR EACH ROW
    WHEN (OLD.full_name IS DISTINCT FROM NEW.full_name OR OLD.initials IS DISTINCT FROM NEW.initials
          OR OLD.role IS DISTINCT FROM NEW.role)
    EXECUTE FUNCTION conversations_note_names();

-- +goose Down
DROP TRIGGER users_names ON users;
DROP FUNCTION conversations_note_names();
DROP TRIGGER conversations_revision ON conversations;
DROP FUNCTION conversations_next_revision();
ALTER TABLE conversations DROP COLUMN revision;
