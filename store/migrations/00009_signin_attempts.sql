-- +goose Up
-- Every sign-in attempt, whatever its outcome, counted per account and per address over a
-- window: each costs a password hash, so even right passwords are limited. In PostgreSQL, like
-- signin_failures, so the limit holds across instances and without Redis.
CREATE TABLE signin_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email       text   NOT NULL,
    client_ip   text   NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX signin_attempts_email_idx ON signin_attempts (email, occurred_at);
CREATE INDEX signin_attempts_ip_idx ON signin_attempts (client_ip, occurred_at);

-- +goose Down
DROP TABLE signin_attempts;
