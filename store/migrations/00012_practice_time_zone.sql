-- +goose Up
-- Each practice shows its dates in its own time zone, an IANA name such as America/Chicago,
-- which the store checks with Go's zone database when it reads it (store.Practice.Location).
-- Practices written from now on name theirs (store.CreatePractice: the demo and new practices
-- take PRACTICE_TIME_ZONE); those already here start in UTC, which the pages name, until an
-- administrator sets theirs. No column default stays behind: a zone right for one practice is
-- wrong for the next, so an insert that forgets it fails instead of guessing.
ALTER TABLE practices ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CHECK (time_zone <> '' AND length(time_zone) <= 64);
ALTER TABLE practices ALTER COLUMN time_zone DROP DEFAULT;

-- +goose Down
ALTER TABLE practices DROP COLUMN time_zone;
