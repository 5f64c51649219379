-- +goose Up
-- What a practice's administrator sets (store/practice_settings.go), one typed row per practice,
-- a column per setting, grouped as the settings page's sections are. Later topics and pools get
-- tables of their own beside it, keyed by practice, as business hours and holidays are here.
-- Every practice has its row: a trigger adds it with the practice, so nothing that creates a
-- practice (the store, a bulk load) can leave one without.
CREATE TABLE practice_settings (
    practice_id      bigint PRIMARY KEY REFERENCES practices (id),
    -- Fee. practices.message_fee_cents stays the fee charged now (0 while off), which every page
    -- reads with the session; fee_cents is the amount set, kept while the fee is off.
    fee_on           boolean NOT NULL DEFAULT false,
    fee_cents        integer NOT NULL DEFAULT 0 CHECK (fee_cents BETWEEN 0 AND 100000),
    -- Shown beside the consent box; {fee} is replaced by the amount.
    consent_text     text    NOT NULL DEFAULT 'I agree to be billed {fee} for this message.'
                     CHECK (length(consent_text) BETWEEN 1 AND 300),
    -- 'all': every message a patient sends; 'new': only the first message of a conversation.
    fee_applies_to   text    NOT NULL DEFAULT 'all' CHECK (fee_applies_to IN ('all', 'new')),
    -- Limits on what a patient sends; staff are never limited. NULL: not set, the configured
    -- SEND_LIMIT applies instead.
    max_body_chars   integer NOT NULL DEFAULT 4000 CHECK (max_body_chars BETWEEN 100 AND 4000),
    per_day          integer CHECK (per_day BETWEEN 1 AND 100),
    per_week         integer CHECK (per_week BETWEEN 1 AND 500),
    -- Compose: whether patients may name a staff member at all (who is listed is
    -- users.answers_messages), and the response methods offered.
    staff_choice     boolean NOT NULL DEFAULT true,
    response_methods text[]  NOT NULL DEFAULT '{message,phone,visit}'
                     CHECK (response_methods <@ '{message,phone,visit}'::text[]),
    -- The standing notice above a patient's inbox, and the promise of when they hear back.
    notice_text      text    NOT NULL DEFAULT 'For non-urgent requests only. If this is an emergency, call 911.'
                     CHECK (length(notice_text) BETWEEN 1 AND 300),
    reply_promise    text    NOT NULL DEFAULT 'Messages are usually answered within two business days.'
                     CHECK (length(reply_promise) <= 300),
    -- After-hours auto-reply: outside business hours, in the practice's time zone.
    auto_reply_on    boolean NOT NULL DEFAULT false,
    auto_reply_text  text    NOT NULL DEFAULT 'Thank you for your message. Our office is closed right now; we will read it when we open. If this is an emergency, call 911.'
                     CHECK (length(auto_reply_text) BETWEEN 1 AND 1000)
);

-- Business hours, one span a weekday (0 Sunday .. 6 Saturday, as Go's time.Weekday); a weekday
-- without a row is closed. Times are the practice's wall clock, in practices.time_zone.
CREATE TABLE practice_business_hours (
    practice_id bigint   NOT NULL REFERENCES practices (id),
    weekday     smallint NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    opens       time     NOT NULL,
    closes      time     NOT NULL,
    CHECK (opens < closes),
    PRIMARY KEY (practice_id, weekday)
);

-- Days the practice is closed all day, in its time zone.
CREATE TABLE practice_holidays (
    practice_id bigint NOT NULL REFERENCES practices (id),
    day         date   NOT NULL,
    name        text   NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    PRIMARY KEY (practice_id, day)
);

-- +goose StatementBegin
CREATE FUNCTION practices_add_settings() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO practice_settings (practice_id, fee_on, fee_cents)
    VALUES (NEW.id, NEW.message_fee_cents > 0, NEW.message_fee_cents);
    INSERT INTO practice_business_hours (practice_id, weekday, opens, closes)
    SELECT NEW.id, d, '08:00', '17:00' FROM generate_series(1, 5) d;
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER practices_add_settings AFTER INSERT ON practices
    FOR EACH ROW EXECUTE FUNCTION practices_add_settings();

INSERT INTO practice_settings (practice_id, fee_on, fee_cents)
SELECT id, message_fee_cents > 0, message_fee_cents FROM practices;
INSERT INTO practice_business_hours (practice_id, weekday, opens, closes)
SELECT p.id, d, '08:00', '17:00' FROM practices p, generate_series(1, 5) d;

-- Every change of a setting, with the section's values before and after, and who made it. The
-- audit log (its hash chain) has a row for each change too; this keeps the values, which the
-- audit log's fixed columns cannot. Settings are not health information.
CREATE TABLE practice_setting_changes (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    practice_id bigint NOT NULL REFERENCES practices (id),
    actor_id    bigint NOT NULL REFERENCES users (id),
    section     text   NOT NULL,
    old         jsonb  NOT NULL,
    new         jsonb  NOT NULL,
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX practice_setting_changes_idx ON practice_setting_changes (practice_id, id);

-- The after-hours auto-replies sent, at most one a conversation a day (the practice's day): the
-- key decides, so two messages at once send one. Plain values, not foreign keys: a cancel that
-- takes the reply with its message leaves the day counted.
CREATE TABLE auto_replies (
    conversation_id bigint NOT NULL,
    day             date   NOT NULL,
    message_id      bigint NOT NULL,
    PRIMARY KEY (conversation_id, day)
);

-- +goose Down
DROP TABLE auto_replies, practice_setting_changes;
DROP TRIGGER practices_add_settings ON practices;
DROP FUNCTION practices_add_settings();
DROP TABLE practice_holidays, practice_business_hours, practice_settings;
