-- +goose NO TRANSACTION
-- +goose Up
-- A patient's inbox lists their open conversations, newest activity first. No index held just
-- those in that order, so PostgreSQL intersected the patient's conversations with every open
-- conversation of the practice and sorted what was left: the work grew with the practice, not
-- with the patient (about 0.4 ms at 1,800 open conversations, on every render and every live
-- refresh; make bench, README "Performance"). This index hands over the first page in order.
-- It is built CONCURRENTLY, so that a release does not hold up new messages while it builds;
-- an attempt that failed half-way leaves an invalid index behind, dropped first.
DROP INDEX CONCURRENTLY IF EXISTS conversations_patient_open_idx;
CREATE INDEX CONCURRENTLY conversations_patient_open_idx
    ON conversations (patient_id, last_activity_at DESC, id DESC) WHERE archived_at IS NULL;

-- +goose Down
DROP INDEX CONCURRENTLY IF EXISTS conversations_patient_open_idx;
