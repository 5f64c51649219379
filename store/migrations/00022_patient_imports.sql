-- +goose Up
-- A CSV of patients uploaded for import, kept between the preview and its confirmation so the
-- confirmation imports what was previewed rather than what a form sends back. Its rows (names,
-- addresses, dates of birth) are sealed with the message key ring (store/crypto.go), bound to the
-- upload's id and practice. An upload expires an hour after it was made; confirmed_at marks it
-- done, so a second confirmation imports nothing. Expired uploads are pruned.
CREATE TABLE patient_imports (
    id           uuid        PRIMARY KEY,
    practice_id  bigint      NOT NULL REFERENCES practices (id),
    uploaded_by  bigint      NOT NULL REFERENCES users (id),
    rows         bytea       NOT NULL, -- sealed JSON
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    confirmed_at timestamptz
);
CREATE INDEX patient_imports_expiry_idx ON patient_imports (expires_at);

-- +goose Down
DROP TABLE patient_imports;
