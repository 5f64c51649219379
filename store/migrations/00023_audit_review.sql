-- +goose Up
-- Audit review (store/audit_review.go): a practice's administrator searches its audit log by
-- patient, staff member, action and date. Each row now says whose it is:
--
-- practice_id, the actor's practice, and patient_id, the patient whose data the row is about
-- (the patient of the message or conversation acted on, or the patient who signed in), both of
-- the same practice. They are worked out as the row is written, by the chain's trigger, because
-- what they are read from can go later: a cancelled message, and with a first message its
-- conversation, are deleted, and a join at search time would lose whose they were. Rows of no
-- practice (a failed sign-in names no account) have none, and no administrator sees them.
-- They are an index of the row, not part of what it records, so they stay outside the chain's
-- hash, which lets the rows written before this migration be given theirs below; the
-- append-only triggers still keep anyone from changing them.
--
-- detail is what a row must say beyond its object: the filters of an export. It is in the hash:
-- audit_canonical adds it only when it is set, so every row written before keeps its hash.
ALTER TABLE audit_log
    ADD COLUMN practice_id bigint,
    ADD COLUMN patient_id  bigint,
    ADD COLUMN detail      text;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_canonical(a audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(concat_ws('|', a.chain_seq, a.id,
        to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        coalesce(a.actor_id::text, ''), a.action, a.object_type, coalesce(a.object_id::text, ''),
        a.outcome, a.request_id, a.client_ip, 'detail:' || a.detail), 'UTF8')
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_subject(a audit_log) RETURNS audit_log
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF a.practice_id IS NULL AND a.actor_id IS NOT NULL THEN
        a.practice_id := (SELECT u.practice_id FROM users u WHERE u.id = a.actor_id);
    END IF;
    IF a.patient_id IS NULL AND a.practice_id IS NOT NULL AND a.object_id IS NOT NULL THEN
        -- Only a patient of the actor's own practice: a refused look at another practice's
        -- message must not put that practice's patient in this one's log.
        a.patient_id := CASE a.object_type
            WHEN 'message' THEN (SELECT c.patient_id FROM messages m JOIN conversations c ON c.id = m.conversation_id
                                 WHERE m.id = a.object_id AND c.practice_id = a.practice_id)
            WHEN 'conversation' THEN (SELECT c.patient_id FROM conversations c
                                      WHERE c.id = a.object_id AND c.practice_id = a.practice_id)
            WHEN 'user' THEN (SELECT u.id FROM users u
                              WHERE u.id = a.object_id AND u.role = 'patient' AND u.practice_id = a.practice_id)
        END;
    END IF;
    RETURN a;
END
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE s audit_log;
BEGIN
    s := audit_subject(NEW);
    NEW.practice_id := s.practice_id;
    NEW.patient_id := s.patient_id;
    -- One writer at a time extends the chain; the lock is held until this transaction commits.
    PERFORM pg_advisory_xact_lock(7311, 0);
    NEW.chain_seq := nextval('audit_chain_seq');
    NEW.prev_hash := coalesce((SELECT entry_hash FROM audit_log ORDER BY chain_seq DESC LIMIT 1),
                              '\x'::bytea);
    NEW.entry_hash := sha256(NEW.prev_hash || audit_canonical(NEW));
    RETURN NEW;
END
$$;
-- +goose StatementEnd

-- The rows written before: whose they were, as far as what they name is still there.
ALTER TABLE audit_log DISABLE TRIGGER audit_no_update;
UPDATE audit_log a SET practice_id = s.practice_id, patient_id = s.patient_id
FROM (SELECT (audit_subject(x)).* FROM audit_log x) s
WHERE s.id = a.id AND s.practice_id IS NOT NULL;
ALTER TABLE audit_log ENABLE TRIGGER audit_no_update;

-- The review's searches, newest first within a practice: all of it, one patient's, one staff
-- member's (the actor index of the first migration has no time order).
CREATE INDEX audit_log_practice_idx ON audit_log (practice_id, occurred_at DESC, id DESC)
    WHERE practice_id IS NOT NULL;
CREATE INDEX audit_log_patient_idx ON audit_log (patient_id, occurred_at DESC, id DESC)
    WHERE patient_id IS NOT NULL;
CREATE INDEX audit_log_actor_time_idx ON audit_log (actor_id, occurred_at DESC, id DESC)
    WHERE practice_id IS NOT NULL;

-- +goose Down
DROP INDEX audit_log_actor_time_idx, audit_log_patient_idx, audit_log_practice_idx;
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(7311, 0);
    NEW.chain_seq := nextval('audit_chain_seq');
    NEW.prev_hash := coalesce((SELECT entry_hash FROM audit_log ORDER BY chain_seq DESC LIMIT 1),
                              '\x'::bytea);
    NEW.entry_hash := sha256(NEW.prev_hash || audit_canonical(NEW));
    RETURN NEW;
END
$$;
-- +goose StatementEnd
DROP FUNCTION audit_subject(audit_log);
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_canonical(a audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(concat_ws('|', a.chain_seq, a.id,
        to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        coalesce(a.actor_id::text, ''), a.action, a.object_type, coalesce(a.object_id::text, ''),
        a.outcome, a.request_id, a.client_ip), 'UTF8')
$$;
-- +goose StatementEnd
ALTER TABLE audit_log DROP COLUMN detail, DROP COLUMN patient_id, DROP COLUMN practice_id;
