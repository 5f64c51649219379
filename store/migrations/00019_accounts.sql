-- +goose Up
-- A person an administrator has deactivated (store/people.go): they cannot sign in, their sessions
-- were ended with the change, and their messages stay theirs. NULL while active. The row is never
-- deleted, so every message, audit row and setting change keeps naming who it was.
ALTER TABLE users ADD COLUMN deactivated_at timestamptz;

-- What a session was started on, in a few words ("Firefox on Android"), so a person can tell
-- their sessions apart on /account/sessions. Never the User-Agent header itself, which says more
-- about the device than the list needs. created_at and last_seen_at are there already (00001).
ALTER TABLE sessions ADD COLUMN device text NOT NULL DEFAULT '' CHECK (char_length(device) <= 80);

-- Every change an administrator makes to a person, and every change of a password, with the
-- value before and after where it has one (never a password or its hash, never a second
-- factor's secret). The audit log's hash chain has a row for each too; this keeps the values,
-- which its fixed columns cannot. Roles and names are not health information.
CREATE TABLE account_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id bigint NOT NULL REFERENCES practices (id),
    actor_id    bigint REFERENCES users (id), -- NULL for a password reset by e-mailed link
    target_id   bigint NOT NULL REFERENCES users (id),
    what        text   NOT NULL CHECK (what IN ('role', 'name', 'deactivated', 'reactivated',
                                                'second_factor_reset', 'password_changed', 'password_reset')),
    old         text   NOT NULL DEFAULT '',
    new         text   NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_changes_idx ON account_changes (practice_id, id);

-- +goose Down
DROP TABLE account_changes;
ALTER TABLE sessions DROP COLUMN device;
ALTER TABLE users DROP COLUMN deactivated_at;
