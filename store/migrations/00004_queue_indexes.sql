-- +goose Up
-- The staff queue lists a practice's open conversations, newest activity first, and counts those
-- in which the patient has the last word. Without these indexes both walked every conversation
-- the practice ever had, and the count looked up each open conversation's latest message through
-- a sort; on a practice with a few thousand conversations its estimated cost also passed
-- PostgreSQL's JIT threshold, and compiling the query took longer than running it (make bench,
-- README "Performance"). Now the open conversations are an index of their own, and a
-- conversation's latest message and its author are the first entry of another.
CREATE INDEX conversations_open_idx ON conversations (practice_id, last_activity_at DESC)
    WHERE archived_at IS NULL;
-- Serves everything messages_conversation_idx did (a conversation's messages, in date order
-- either way), and the latest message without a sort or a visit to the table.
CREATE INDEX messages_latest_idx ON messages (conversation_id, created_at DESC, id DESC) INCLUDE (author_id);
DROP INDEX messages_conversation_idx;

-- +goose Down
CREATE INDEX messages_conversation_idx ON messages (conversation_id, created_at);
DROP INDEX messages_latest_idx;
DROP INDEX conversations_open_idx;
