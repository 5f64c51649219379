-- +goose Up
-- A forgotten password's reset (store/password_reset.go). The request inserts the row and its
-- e-mail's job in one transaction; the job's worker draws the link's random token when it sends,
-- and only the token's SHA-256 is kept here. So neither this table nor the job queue ever holds
-- a token that opens the form: a read of the database is not a way in. A resend after a failed
-- send draws a new token, and the old link stops working.
CREATE TABLE password_resets (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    token_hash   bytea  UNIQUE, -- NULL until the e-mail is sent
    requested_at timestamptz NOT NULL DEFAULT now(),
    -- Within an hour of the request, whenever the e-mail went.
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    CHECK (expires_at > requested_at)
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id, requested_at);

-- +goose Down
DROP TABLE password_resets;
