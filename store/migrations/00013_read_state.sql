-- +goose Up
-- Read state. Every message is addressed to one side of its conversation: a patient's message
-- to the practice's staff, a staff member's message to the patient. opened_at is when that side
-- last opened its details; NULL means it is new to that side (for staff: new to every staff
-- member until one of them opens it). Mark as Unread sets it back to NULL. Notifications ask
-- this column, under the message's row, whether the addressee has seen the message yet.
ALTER TABLE messages ADD COLUMN opened_at timestamptz;
-- Messages written before read state existed were seen by whoever they were for.
UPDATE messages SET opened_at = created_at;

-- Read receipts: who opened which message, and when first. Written in the transaction that
-- writes the audit log's message_read row, so receipts and the audit log agree; never deleted
-- by Mark as Unread (a receipt says a person read it, which stays true). A cancelled message
-- takes its receipts with it: they are about that message alone, unlike a reply, which is why
-- messages themselves never cascade.
CREATE TABLE message_reads (
    message_id    bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    reader_id     bigint      NOT NULL REFERENCES users (id),
    first_read_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (message_id, reader_id)
);

-- Live updates carry read state to every open tab of the people concerned.
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check CHECK (kind IN ('message_sent',
    'conversation_archived', 'conversation_reopened', 'message_cancelled',
    'message_read', 'message_unread'));

-- +goose Down
ALTER TABLE events DROP CONSTRAINT events_kind_check;
ALTER TABLE events ADD CONSTRAINT events_kind_check CHECK (kind IN ('message_sent',
    'conversation_archived', 'conversation_reopened', 'message_cancelled'));
DROP TABLE message_reads;
ALTER TABLE messages DROP COLUMN opened_at;
