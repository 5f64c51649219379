-- +goose NO TRANSACTION
-- +goose Up
-- The deployment's key for public ids (store/public_id.go): 16 random bytes, one row, written
-- once by the first instance that starts (INSERT ... ON CONFLICT DO NOTHING) and read by all,
-- so every instance on the database writes and reads the same ids. It hides the order and
-- count of rows, not health information.
CREATE TABLE IF NOT EXISTS public_id_key (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    key      bytea   NOT NULL CHECK (length(key) = 16)
);

-- A patient's sends are limited over a window (store/send_limit.go), counted from their recent
-- messages. Built CONCURRENTLY, so that a release does not hold up new messages; an attempt that
-- failed half-way leaves an invalid index, dropped first.
DROP INDEX CONCURRENTLY IF EXISTS messages_author_sent_idx;
CREATE INDEX CONCURRENTLY messages_author_sent_idx ON messages (author_id, created_at);

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS messages_author_sent_idx;
DROP TABLE IF EXISTS public_id_key;
