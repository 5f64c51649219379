-- +goose Up
-- An optional second factor (TOTP) per account. The secret is sealed like message text; the last
-- accepted time step stops a code being used twice.
ALTER TABLE users
    ADD COLUMN totp_secret    bytea,
    ADD COLUMN totp_enabled   boolean NOT NULL DEFAULT false,
    ADD COLUMN totp_last_step bigint  NOT NULL DEFAULT 0;

-- A session that has passed the password but still owes its second factor.
ALTER TABLE sessions ADD COLUMN second_factor_pending boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE sessions DROP COLUMN second_factor_pending;
ALTER TABLE users DROP COLUMN totp_last_step, DROP COLUMN totp_enabled, DROP COLUMN totp_secret;
