-- +goose Up
-- E-mail notifications, one row per message and recipient and kind: the e-mail that a message
-- is waiting ('message'), and the one reminder a day later if it is still unread ('reminder').
-- The row is written in the transaction that writes the message (with the job that sends it),
-- and says what became of it, which the author's side shows: pending (not sent yet, maybe
-- retrying), sent, skipped (reason: the recipient had read it, another e-mail covered it, or it is
-- the demo's made-up history) or
-- failed (reason: what the mail server said, in a few words, such as 'address rejected').
-- sent_at is written in the transaction that marks the job done, right after the mail server
-- accepted the e-mail, so a worker killed after that does not send it again. No text, no
-- address: those are read from the message and the user when the e-mail is sent. A cancelled
-- message takes its notifications with it: they are about that message alone.
CREATE TABLE notifications (
    id              bigserial   PRIMARY KEY,
    message_id      bigint      NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    conversation_id bigint      NOT NULL REFERENCES conversations (id),
    recipient_id    bigint      NOT NULL REFERENCES users (id),
    kind            text        NOT NULL CHECK (kind IN ('message', 'reminder')),
    state           text        NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'skipped', 'failed')),
    reason          text        NOT NULL DEFAULT '',
    attempts        integer     NOT NULL DEFAULT 0,
    attempted_at    timestamptz, -- the last time a worker set out to send it
    created_at      timestamptz NOT NULL DEFAULT now(),
    sent_at         timestamptz,
    UNIQUE (message_id, recipient_id, kind),
    CHECK ((state = 'sent') = (sent_at IS NOT NULL))
);
-- At most one e-mail per conversation and recipient an hour: the last one sent, or being sent,
-- found fast.
CREATE INDEX notifications_per_conversation ON notifications (conversation_id, recipient_id);
CREATE INDEX notifications_recipient ON notifications (recipient_id);

-- +goose Down
DROP TABLE notifications;
