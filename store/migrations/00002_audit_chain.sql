-- +goose Up
-- The audit log becomes tamper-evident and append-only. Each row is chained to the one before it
-- by a SHA-256 over the previous row's hash and this row's canonical text; the database computes
-- it, under a lock held to commit, so rows chain in commit order (chain_seq) whatever their ids.
-- `securemessages audit-verify` recomputes the chain and names the first broken link.
ALTER TABLE audit_log
    ADD COLUMN chain_seq  bigint,
    ADD COLUMN prev_hash  bytea,
    ADD COLUMN entry_hash bytea;

CREATE SEQUENCE audit_chain_seq;

-- +goose StatementBegin
CREATE FUNCTION audit_canonical(a audit_log) RETURNS bytea
LANGUAGE sql IMMUTABLE AS $$
    SELECT convert_to(concat_ws('|', a.chain_seq, a.id,
        to_char(a.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        coalesce(a.actor_id::text, ''), a.action, a.object_type, coalesce(a.object_id::text, ''),
        a.outcome, a.request_id, a.client_ip), 'UTF8')
$$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION audit_chain() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
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

-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

-- Rows written before the chain existed are chained once, in id order.
-- +goose StatementBegin
DO $$
DECLARE r audit_log; prev bytea := '\x'::bytea;
BEGIN
    FOR r IN SELECT * FROM audit_log ORDER BY id LOOP
        r.chain_seq := nextval('audit_chain_seq');
        r.prev_hash := prev;
        r.entry_hash := sha256(prev || audit_canonical(r));
        UPDATE audit_log SET chain_seq = r.chain_seq, prev_hash = r.prev_hash, entry_hash = r.entry_hash
        WHERE id = r.id;
        prev := r.entry_hash;
    END LOOP;
END
$$;
-- +goose StatementEnd

ALTER TABLE audit_log ALTER COLUMN chain_seq SET NOT NULL,
                      ALTER COLUMN prev_hash SET NOT NULL,
                      ALTER COLUMN entry_hash SET NOT NULL;
CREATE UNIQUE INDEX audit_log_chain_idx ON audit_log (chain_seq);

CREATE TRIGGER audit_chain BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_chain();
CREATE TRIGGER audit_no_update BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;

-- +goose Down
DROP TRIGGER audit_no_truncate ON audit_log;
DROP TRIGGER audit_no_update ON audit_log;
DROP TRIGGER audit_chain ON audit_log;
DROP FUNCTION audit_append_only();
DROP FUNCTION audit_chain();
DROP FUNCTION audit_canonical(audit_log);
DROP SEQUENCE audit_chain_seq;
ALTER TABLE audit_log DROP COLUMN entry_hash, DROP COLUMN prev_hash, DROP COLUMN chain_seq;
