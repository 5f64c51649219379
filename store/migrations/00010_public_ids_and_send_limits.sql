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

-- +goose Down
DROP TABLE IF EXISTS public_id_key;
