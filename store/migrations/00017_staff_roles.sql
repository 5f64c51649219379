-- +goose Up
-- Staff get a role of their own (physician, nurse, front desk), read from the title the demo and
-- every practice so far gave them where it names one; a staff member whose title names none has
-- no role until an administrator gives one. The title stays what the compose form shows.
-- answers_messages stays the staff kind it was: whether patients may name them on the compose
-- form (the practice settings page lists it as "who should respond").
ALTER TABLE users
    ADD COLUMN staff_role text CHECK (staff_role IN ('physician', 'nurse', 'front_desk')),
    -- A right a staff member holds, beside their role: changing the practice's settings
    -- (store.PracticeAllowed).
    ADD COLUMN administrator boolean NOT NULL DEFAULT false,
    -- The practice's own voice for automatic replies (store.autoReply): an account nobody signs
    -- in to (no password hash argon2 could match), listed nowhere, one per practice.
    ADD COLUMN automatic boolean NOT NULL DEFAULT false;

ALTER TABLE users
    ADD CONSTRAINT users_staff_role_of_staff CHECK (staff_role IS NULL OR role = 'staff'),
    ADD CONSTRAINT users_administrator_is_staff CHECK (NOT administrator OR (role = 'staff' AND NOT automatic)),
    ADD CONSTRAINT users_automatic_is_staff CHECK (NOT automatic OR (role = 'staff' AND NOT answers_messages));

CREATE UNIQUE INDEX users_automatic_idx ON users (practice_id) WHERE automatic;

UPDATE users SET staff_role = CASE lower(title)
        WHEN 'physician' THEN 'physician'
        WHEN 'nurse' THEN 'nurse'
        WHEN 'front desk' THEN 'front_desk'
    END
WHERE role = 'staff';

-- An automatic reply is not the practice's answer: the patient keeps the last word, so the
-- conversation still waits for a person (the staff queue's "waiting for a reply").
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversations_note_last_word() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversations c
    SET patient_has_last_word = coalesce((
        SELECT a.role = 'patient'
        FROM messages m JOIN users a ON a.id = m.author_id
        WHERE m.conversation_id = c.id AND NOT a.automatic
        ORDER BY m.created_at DESC, m.id DESC LIMIT 1), false)
    WHERE c.id IN (SELECT DISTINCT conversation_id FROM changed);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION conversations_note_last_word() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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
DROP INDEX users_automatic_idx;
ALTER TABLE users DROP COLUMN automatic, DROP COLUMN administrator, DROP COLUMN staff_role;
