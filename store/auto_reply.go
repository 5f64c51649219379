package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jmoiron/sqlx"
)

// AutoReplySubject marks an automatic reply wherever its subject shows, on both sides.
const AutoReplySubject = "Automatic reply: "

// UseDefaultZone sets the time zone of a practice that has named none (the configured
// PRACTICE_TIME_ZONE), in which its business hours are read; call it before serving (app.New
// does). Until then it is UTC.
func (s *Store) UseDefaultZone(z *time.Location) { s.zone = z }

func (s *Store) defaultZone() *time.Location {
	if s.zone == nil {
		return time.UTC
	}
	return s.zone
}

// autoReply answers a patient's message at once with the practice's after-hours text, when the
// practice has it on and is closed now (its business hours and holidays, in its time zone): in
// the send's own transaction, from the practice's automatic account, under the message it
// answers. At most one a conversation a day (the practice's day): auto_replies' key decides, so
// two messages at once get one. It is not anybody acting on the message (acted_on stays as it
// was, so Cancel still applies), and not the practice's answer (the patient keeps the last word,
// migration 00017).
func (s *Store) autoReply(ctx context.Context, tx *sqlx.Tx, v Viewer, o Origin, ps PracticeSettings,
	convID, patientID, parentID int64, subject string) error {
	if v.Role != RolePatient || !ps.AutoReply.On {
		return nil
	}
	zone := Practice{TimeZone: ps.Hours.TimeZone}.Location(s.defaultZone())
	now := s.now()
	if ps.Hours.Open(now, zone) {
		return nil
	}
	var claimed bool
	err := tx.GetContext(ctx, &claimed, `
		INSERT INTO auto_replies (conversation_id, day, message_id) VALUES ($1::bigint, $2, 0)
		ON CONFLICT DO NOTHING RETURNING true`, convID, now.In(zone).Format(time.DateOnly))
	if errors.Is(err, sql.ErrNoRows) {
		return nil // this conversation had its automatic reply today
	}
	if err != nil {
		return fmt.Errorf("auto-reply: %w", err)
	}
	author, err := automaticAccount(ctx, tx, v.PracticeID)
	if err != nil {
		return err
	}
	av := Viewer{UserID: author, PracticeID: v.PracticeID, Role: RoleStaff}
	sent, err := s.insertMessage(ctx, tx, av, outgoing{conversationID: convID, parentID: parentID,
		subject: autoReplySubject(subject), body: ps.AutoReply.Text, submitKey: uuid.NewString()})
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE auto_replies SET message_id = $2 WHERE conversation_id = $1 AND message_id = 0`,
		convID, sent.MessageID); err != nil {
		return fmt.Errorf("auto-reply: %w", err)
	}
	if _, err := writeEvent(ctx, tx, Event{Kind: EventMessageSent, PracticeID: v.PracticeID, PatientID: patientID,
		ConversationID: convID, MessageID: sent.MessageID}); err != nil {
		return fmt.Errorf("auto-reply: %w", err)
	}
	return writeAudit(ctx, tx, Audit{ActorID: author, Action: "auto_reply_sent", ObjectType: "message",
		ObjectID: sent.MessageID, RequestID: o.RequestID, ClientIP: o.ClientIP})
}

// autoReplySubject is "Automatic reply: Re: …", within the subject's limit.
func autoReplySubject(parent string) string {
	s := []rune(AutoReplySubject + ReplySubject(parent))
	if len(s) > MaxSubjectLen {
		s = s[:MaxSubjectLen]
	}
	return string(s)
}

// automaticAccount is the practice's automatic account, made the first time it writes: a staff
// row nobody signs in to (its password hash matches no password), never listed.
func automaticAccount(ctx context.Context, tx *sqlx.Tx, practiceID int64) (int64, error) {
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO users (practice_id, role, email, password_hash, full_name, initials, automatic)
		VALUES ($1::bigint, 'staff', 'automatic-reply+' || $1::bigint || '@practice.invalid', '!', 'Automatic reply', 'AR', true)
		ON CONFLICT (practice_id) WHERE automatic DO NOTHING`, practiceID); err != nil {
		return 0, fmt.Errorf("auto-reply: automatic account of practice %d: %w", practiceID, err)
	}
	var id int64
	if err := tx.GetContext(ctx, &id, `SELECT id FROM users WHERE practice_id = $1 AND automatic`, practiceID); err != nil {
		return 0, fmt.Errorf("auto-reply: automatic account of practice %d: %w", practiceID, err)
	}
	return id, nil
}
