-- +goose Up
-- How each person wants to hear of new messages by e-mail, per kind of message. A missing row
-- is the kind's default (store/notification_preference.go): patients hear of the care team's
-- messages at once; staff hear at once of messages that ask for them by name, and not of the
-- rest of what waits for the practice unless they choose to.
CREATE TABLE notification_preferences (
    user_id    bigint NOT NULL REFERENCES users (id),
    kind       text   NOT NULL CHECK (kind IN ('practice_message', 'requested', 'waiting')),
    delivery   text   NOT NULL CHECK (delivery IN ('now', 'digest', 'off')),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);

-- One-click unsubscribe links (RFC 8058): each e-mail carries a random token that turns its one
-- kind off without a sign-in. Only the token's SHA-256 is kept, so a read of this table cannot be
-- turned into links that change anybody's settings.
CREATE TABLE unsubscribe_tokens (
    token_hash bytea  PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    kind       text   NOT NULL CHECK (kind IN ('practice_message', 'requested', 'waiting')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX unsubscribe_tokens_user_idx ON unsubscribe_tokens (user_id);

-- +goose Down
DROP TABLE unsubscribe_tokens, notification_preferences;
