-- +goose Up
-- What is new is what nobody of the addressed side has opened (00013_read_state.sql): the staff
-- queue's "Unread" filter and every page's count of new messages look for those messages only,
-- a few among all a practice ever had.
CREATE INDEX messages_unopened_idx ON messages (conversation_id) WHERE opened_at IS NULL;

-- +goose Down
DROP INDEX messages_unopened_idx;
