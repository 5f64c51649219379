package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// NotifyKind says why an e-mail goes: a message waiting, or a reminder of one.
type NotifyKind string

// The kinds of notification.
const (
	NotifyMessage  NotifyKind = "message"  // a message is waiting
	NotifyReminder NotifyKind = "reminder" // still unread a day after the first e-mail
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
	ReasonOff     = "off"     // the recipient turned this kind of e-mail off
	// ReasonDigest marks a pending notification that waits for the recipient's hourly digest
	// (notification_digest.go) rather than an e-mail of its own; a skipped reminder of someone who
	// chose the digest says it too.
	ReasonDigest = "digest"
)

// NotifyWindow is the least time between two e-mails to one person about one conversation.
const NotifyWindow = time.Hour

// NextSend is what a worker should do with a notification now.
type NextSend struct {
	Send        bool   // e-mail To now
	To          string // the recipient's address, when Send
	RecipientID int64
	Kind        NotifyKind
	// About is the kind of message it tells of, as the recipient's preferences name it: the one
	// kind the e-mail's unsubscribe link turns off.
	About NotificationKind
	// WaitUntil, when set, is when the conversation's last e-mail is an hour old: try again then.
	WaitUntil time.Time
	// Done: nothing is left to do (sent, skipped or failed already, or the message is gone).
	Done bool
}

// notificationRow is what a notification is about, and for whom.
type notificationRow struct {
	MessageID      int64      `db:"message_id"`
	ConversationID int64      `db:"conversation_id"`
	RecipientID    int64      `db:"recipient_id"`
	Kind           NotifyKind `db:"kind"`
}

// aboutSQL is the preference kind a notifications row n to recipient r tells of: the care team's
// messages for a patient; for staff, a message of a conversation whose patient asked for them by
// name (its first message's "who should respond"), or else one waiting for the practice.
const aboutSQL = `CASE WHEN r.role = 'patient' THEN 'practice_message'
	WHEN r.id = (SELECT f.requested_staff_id FROM messages f
	             WHERE f.conversation_id = n.conversation_id AND f.parent_id IS NULL) THEN 'requested'
	ELSE 'waiting' END`

// deliverySQL is how recipient r wants to hear of the kind `about` (aboutSQL): their choice, or
// NULL for the kind's default (NotificationKind.Default).
const deliverySQL = `(SELECT p.delivery FROM notification_preferences p WHERE p.user_id = r.id AND p.kind = ` + aboutSQL + `)`

// noMailSQL is true for a recipient r who is to get no e-mail whatever they chose: the
// practice's automatic account, and a deactivated account (which cannot sign in to read it).
const noMailSQL = `(r.automatic OR r.deactivated_at IS NOT NULL)`

// delivery is the delivery a preference row left, the kind's default when none, and off for an
// account that is no person's or is deactivated (automatic: noMailSQL).
func delivery(chosen sql.NullString, about NotificationKind, automatic bool) Delivery {
	switch {
	case automatic:
		return DeliveryOff
	case chosen.Valid:
		return Delivery(chosen.String)
	}
	return about.Default()
}

// notifyLockSpace is the advisory-lock key space of notifications: one lock per conversation and
// recipient, so two workers never both decide to e-mail one person about one conversation.
const notifyLockSpace = 0x6e6f74 // "not"

// NextDelivery decides what to do with notification id, and counts the attempt. Under a lock on
// the conversation and recipient: skip it if the recipient turned its kind off; leave it for
// the digest if they chose that; skip it if the recipient has opened what it is about (the
// message; for a reminder, everything in the conversation addressed to them), wait if the
// conversation's last e-mail to them (sent, or set out to be sent by another worker) is less
// than NotifyWindow old, else send — and mark the other pending notifications of that kind in
// the conversation that nobody has set out to send covered, as this e-mail tells of them too.
// prepare runs, when it is to be sent, in the transaction that counts the attempt, so what it
// writes (the e-mail's unsubscribe token) commits with it or not at all.
func (s *Store) NextDelivery(ctx context.Context, id int64, prepare func(sqlx.ExecerContext, NextSend) error) (NextSend, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return NextSend{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	defer tx.Rollback()
	var n struct {
		notificationRow
		State NotificationState `db:"state"`
	}
	err = tx.GetContext(ctx, &n, `
		SELECT message_id, conversation_id, recipient_id, kind, state FROM notifications WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return NextSend{Done: true}, nil // its message was cancelled
	}
	if err != nil {
		return NextSend{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2::text || ':' || $3::text))`,
		notifyLockSpace, n.ConversationID, n.RecipientID); err != nil {
		return NextSend{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	var row struct {
		State     NotificationState `db:"state"`
		Unopened  bool              `db:"unopened"`
		LastSent  sql.NullTime      `db:"last_sent"` // or being sent
		Email     string            `db:"email"`
		About     NotificationKind  `db:"about"`
		Chosen    sql.NullString    `db:"delivery"`
		Automatic bool              `db:"automatic"`
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
		       r.email, `+noMailSQL+` AS automatic, `+aboutSQL+` AS about, `+deliverySQL+` AS delivery
		FROM notifications n JOIN users r ON r.id = n.recipient_id
		WHERE n.id = $1
		FOR UPDATE OF n`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return NextSend{Done: true}, nil
	}
	if err != nil {
		return NextSend{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	var d NextSend
	now := s.now()
	switch {
	case row.State != NotificationPending:
		return NextSend{Done: true}, nil
	case delivery(row.Chosen, row.About, row.Automatic) == DeliveryOff:
		_, err = tx.ExecContext(ctx, `UPDATE notifications SET state = 'skipped', reason = $2 WHERE id = $1`, id, ReasonOff)
		d.Done = true
	case !row.Unopened:
		_, err = tx.ExecContext(ctx, `UPDATE notifications SET state = 'skipped', reason = $2 WHERE id = $1`, id, ReasonRead)
		d.Done = true
	case delivery(row.Chosen, row.About, row.Automatic) == DeliveryDigest && n.Kind == NotifyReminder:
		// The digest tells of what is still unopened; a reminder on top would be a second e-mail.
		_, err = tx.ExecContext(ctx, `UPDATE notifications SET state = 'skipped', reason = $2 WHERE id = $1`, id, ReasonDigest)
		d.Done = true
	case delivery(row.Chosen, row.About, row.Automatic) == DeliveryDigest:
		_, err = tx.ExecContext(ctx, `UPDATE notifications SET reason = $2 WHERE id = $1`, id, ReasonDigest)
		d.Done = true
	case row.LastSent.Valid && now.Before(row.LastSent.Time.Add(NotifyWindow)):
		d.WaitUntil = row.LastSent.Time.Add(NotifyWindow)
	default:
		d.Send, d.To, d.RecipientID, d.Kind, d.About = true, row.Email, n.RecipientID, n.Kind, row.About
		_, err = tx.ExecContext(ctx, `UPDATE notifications SET attempts = attempts + 1, attempted_at = now() WHERE id = $1`, id)
		if err == nil && prepare != nil {
			err = prepare(tx, d)
		}
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
		return NextSend{}, fmt.Errorf("store: notification %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return NextSend{}, fmt.Errorf("store: notification %d: %w", id, err)
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
	var n struct {
		notificationRow
		Role Role `db:"role"`
	}
	err = tx.GetContext(ctx, &n, `
		UPDATE notifications SET state = 'sent', reason = '', sent_at = now()
		WHERE id = $1 AND state = 'pending'
		RETURNING message_id, conversation_id, recipient_id, kind,
		          (SELECT role FROM users WHERE id = recipient_id) AS role`, id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: mark notification %d sent: %w", id, err)
	}
	// Staff hear of a patient's message once: their dashboard, open all day, is the reminder.
	if err == nil && n.Kind == NotifyMessage && n.Role == RolePatient {
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

// NotificationProblem is why the patient of message id could not be e-mailed about it ("" when
// nothing failed), for staff of the message's practice; a patient, or staff of another practice,
// gets "". A colleague's failed e-mail about a patient's message is not the patient's problem.
func (s *Store) NotificationProblem(ctx context.Context, v Viewer, messageID int64) (string, error) {
	if v.Role != RoleStaff {
		return "", nil
	}
	var reason string
	err := s.db.GetContext(ctx, &reason, `
		SELECT n.reason FROM notifications n JOIN conversations c ON c.id = n.conversation_id
		WHERE n.message_id = $1 AND c.practice_id = $2 AND n.state = 'failed' AND n.recipient_id = c.patient_id
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

// notifyStaff enqueues, for a message a patient wrote, the e-mails that tell the practice's staff
// of it, to go at once: to the staff member the patient asked for (their KindRequested choice)
// and to every other one who chose to hear of what waits for the practice (KindWaiting). Staff
// who turned theirs off get no row at all, so a big practice's message is not a row per member;
// the worker asks the preference again when it sends. The practice's automatic account is no
// person and gets nothing, nor does a deactivated account.
func (s *Store) notifyStaff(ctx context.Context, tx *sqlx.Tx, v Viewer, sent Sent) error {
	if v.Role != RolePatient {
		return nil
	}
	var staff []struct {
		ID        int64          `db:"id"`
		Requested bool           `db:"requested"`
		Chosen    sql.NullString `db:"delivery"`
	}
	err := tx.SelectContext(ctx, &staff, `
		WITH asked AS (SELECT requested_staff_id AS id FROM messages
		               WHERE conversation_id = $2 AND parent_id IS NULL)
		SELECT u.id, coalesce(u.id = (SELECT id FROM asked), false) AS requested,
		       (SELECT p.delivery FROM notification_preferences p WHERE p.user_id = u.id
		        AND p.kind = CASE WHEN u.id = (SELECT id FROM asked) THEN 'requested' ELSE 'waiting' END) AS delivery
		FROM users u
		WHERE u.practice_id = $1 AND u.role = 'staff' AND NOT u.automatic AND u.deactivated_at IS NULL
		ORDER BY u.id`, v.PracticeID, sent.ConversationID)
	if err != nil {
		return fmt.Errorf("store: staff to notify of message %d: %w", sent.MessageID, err)
	}
	for _, m := range staff {
		about := KindWaiting
		if m.Requested {
			about = KindRequested
		}
		if delivery(m.Chosen, about, false) == DeliveryOff {
			continue
		}
		if err := s.enqueueNotification(ctx, tx.Tx, NotifyMessage, sent.MessageID, sent.ConversationID, m.ID, s.now()); err != nil {
			return err
		}
	}
	return nil
}
