-- +goose Up
-- Each practice shows its dates in its own time zone, an IANA name such as America/Chicago,
-- which the store checks with Go's zone database where it is written and where it is read
-- (store.Practice.TimeZone). A practice that has not named one (NULL, as every practice here
-- before this migration) shows its dates in the instance's configured default,
-- PRACTICE_TIME_ZONE, until an administrator names its own.
ALTER TABLE practices ADD COLUMN time_zone text
    CHECK (time_zone <> '' AND length(time_zone) <= 64);

-- +goose Down
ALTER TABLE practices DROP COLUMN time_zone;
