package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// NotificationKind says why an e-mail goes.
type NotificationKind string

// The kinds of notification.
const (
	NotifyMessage  NotificationKind = "message"  // a message is waiting
	NotifyReminder NotificationKind = "reminder" // still unread a day after the first e-mail
)

// NotificationState is what became of a notification.
type NotificationState string

// The states of a notification (the notifications table's state column).
const (
	NotificationPending NotificationState = "pending" // not sent yet; may be retrying
	NotificationSent    NotificationState = "sent"
	NotificationSkipped NotificationState = "skipped" // Reason: ReasonRead or ReasonCovered
	NotificationFailed  NotificationState = "failed"  // Reason: what the mail server said
)

// Why a notification was skipped.
const (
	ReasonRead    = "read"    // the recipient had opened it by then
	ReasonCovered = "covered" // an e-mail about the same conversation went instead
	ReasonDemo    = "demo"    // the demo's made-up history (LoadDemo)
)

// NotifyWindow is the least time between two e-mails to one person about one conversation.
const NotifyWindow = time.Hour

// Delivery is what a worker should do with a notification now.
type Delivery struct {
	Send        bool   // e-mail To now
	To          string // the recipient's address, when Send
	RecipientID int64
	Kind        NotificationKind
	// WaitUntil, when set, is when the conversation's last e-mail is an hour old: try again then.
	WaitUntil time.Time
	// Done: nothing is left to do (sent, skipped or failed already, or the message is gone).
	Done bool
}

// notificationRow is what a notification is about, and for whom.
type notificationRow struct {
	MessageID      int64            `db:"message_id"`
	ConversationID int64            `db:"conversation_id"`
	RecipientID    int64            `db:"recipient_id"`
	Kind           NotificationKind `db:"kind"`
}

// notifyLockSpace is the advisory-lock key space of notifications: one lock per conversation and
// recipient, so two workers never both decide to e-mail one person about one conversation.
const notifyLockSpace = 0x6e6f74 // "not"

// NextDelivery decides what to do with notification id, and counts the attempt. Under a lock on
// the conversation and recipient: skip it if the recipient has opened what it is about (the
// message; for a reminder, everything in the conversation addressed to them), wait if the
// conversation's last e-mail to them (sent, or set out to be sent by another worker) is less
// than NotifyWindow old, else send — and mark the other pending notifications of that kind in
// the conversation that nobody has set out to send covered, as this e-mail tells of them too.
func (s *Store) NextDelivery(ctx context.Context, id int64) (Delivery, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Delivery{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	defer tx.Rollback()
	var n struct {
		notificationRow
		State NotificationState `db:"state"`
	}
	err = tx.GetContext(ctx, &n, `
		SELECT message_id, conversation_id, recipient_id, kind, state FROM notifications WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{Done: true}, nil // its message was cancelled
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2::text || ':' || $3::text))`,
		notifyLockSpace, n.ConversationID, n.RecipientID); err != nil {
		return Delivery{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	var row struct {
		State    NotificationState `db:"state"`
		Unopened bool              `db:"unopened"`
		LastSent sql.NullTime      `db:"last_sent"` // or being sent
		Email    string            `db:"email"`
	}
	// Read again under the lock: another worker may have covered this one meanwhile.
	err = tx.GetContext(ctx, &row, `
		SELECT n.state,
		       CASE WHEN n.kind = 'message'
		            THEN (SELECT m.opened_at IS NULL FROM messages m WHERE m.id = n.message_id)
		            ELSE EXISTS (SELECT 1 FROM messages m JOIN users a ON a.id = m.author_id
		                         WHERE m.conversation_id = n.conversation_id AND m.opened_at IS NULL
		                           AND a.role <> r.role)
		       END AS unopened,
		       (SELECT max(coalesce(o.sent_at, o.attempted_at)) FROM notifications o
		        WHERE o.conversation_id = n.conversation_id AND o.recipient_id = n.recipient_id AND o.id <> n.id
		          AND (o.state = 'sent' OR (o.state = 'pending' AND o.attempted_at IS NOT NULL))) AS last_sent,
		       r.email
		FROM notifications n JOIN users r ON r.id = n.recipient_id
		WHERE n.id = $1
		FOR UPDATE OF n`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{Done: true}, nil
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	var d Delivery
	now := s.now()
	switch {
	case row.State != NotificationPending:
		return Delivery{Done: true}, nil
	case !row.Unopened:
		_, err = tx.ExecContext(ctx, `UPDATE notifications SET state = 'skipped', reason = $2 WHERE id = $1`, id, ReasonRead)
		d.Done = true
	case row.LastSent.Valid && now.Before(row.LastSent.Time.Add(NotifyWindow)):
		d.WaitUntil = row.LastSent.Time.Add(NotifyWindow)
	default:
		d.Send, d.To, d.RecipientID, d.Kind = true, row.Email, n.RecipientID, n.Kind
		_, err = tx.ExecContext(ctx, `UPDATE notifications SET attempts = attempts + 1, attempted_at = now() WHERE id = $1`, id)
		if err == nil {
			// One already on its way (being sent, or retrying) is left to finish.
			_, err = tx.ExecContext(ctx, `
				UPDATE notifications SET state = 'skipped', reason = $5
				WHERE conversation_id = $2 AND recipient_id = $3 AND kind = $4 AND state = 'pending'
				  AND attempted_at IS NULL AND id <> $1`,
				id, n.ConversationID, n.RecipientID, n.Kind, ReasonCovered)
		}
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return Delivery{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	return d, nil
}

// MarkNotificationSent records that the mail server accepted notification id's e-mail, and
// enqueues the reminder a message's e-mail earns. complete runs in the same transaction (the
// worker marks its job done there), so the sent marker and the job's end commit together: a
// worker killed before this commit sends again; one killed after does not.
func (s *Store) MarkNotificationSent(ctx context.Context, id int64, complete func(*sql.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: mark notification %d sent: %w", id, err)
	}
	defer tx.Rollback()
	var n notificationRow
	err = tx.GetContext(ctx, &n, `
		UPDATE notifications SET state = 'sent', reason = '', sent_at = now()
		WHERE id = $1 AND state = 'pending'
		RETURNING message_id, conversation_id, recipient_id, kind`, id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: mark notification %d sent: %w", id, err)
	}
	if err == nil && n.Kind == NotifyMessage {
		if err := s.enqueueNotification(ctx, tx.Tx, NotifyReminder, n.MessageID, n.ConversationID, n.RecipientID,
			s.now().Add(ReminderAfter)); err != nil {
			return err
		}
	}
	if err := complete(tx.Tx); err != nil {
		return fmt.Errorf("store: mark notification %d sent: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: mark notification %d sent: %w", id, err)
	}
	return nil
}

// MarkNotificationFailed records that notification id cannot be sent, and why in a few words
// (what the mail server said: "address rejected"), for the author's side to show.
func (s *Store) MarkNotificationFailed(ctx context.Context, id int64, reason string) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE notifications SET state = 'failed', reason = $2 WHERE id = $1 AND state = 'pending'`, id, reason)
	if err != nil {
		return fmt.Errorf("store: mark notification %d failed: %w", id, err)
	}
	return nil
}

// NotificationProblem is why the recipient of message id could not be e-mailed about it ("" when
// nothing failed), for staff of the message's practice; a patient, or staff of another practice,
// gets "".
func (s *Store) NotificationProblem(ctx context.Context, v Viewer, messageID int64) (string, error) {
	if v.Role != RoleStaff {
		return "", nil
	}
	var reason string
	err := s.db.GetContext(ctx, &reason, `
		SELECT n.reason FROM notifications n JOIN conversations c ON c.id = n.conversation_id
		WHERE n.message_id = $1 AND c.practice_id = $2 AND n.state = 'failed'
		ORDER BY n.id DESC LIMIT 1`, messageID, v.PracticeID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("store: notification problem of message %d: %w", messageID, err)
	}
	return reason, nil
}

// notifyPatient enqueues the e-mail that tells the conversation's patient of a message the
// practice wrote them, to go after the notify delay.
func (s *Store) notifyPatient(ctx context.Context, tx *sql.Tx, v Viewer, sent Sent, patientID int64) error {
	if v.Role != RoleStaff {
		return nil
	}
	return s.enqueueNotification(ctx, tx, NotifyMessage, sent.MessageID, sent.ConversationID, patientID,
		s.now().Add(s.notifyDelay))
}
