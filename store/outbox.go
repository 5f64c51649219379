package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Event kinds, as written to the events table and published to live viewers.
const (
	EventMessageSent          = "message_sent"
	EventConversationArchived = "conversation_archived"
	EventConversationReopened = "conversation_reopened"
	EventMessageCancelled     = "message_cancelled"
)

// Event describes one committed change: ids and a kind, never message text.
type Event struct {
	ID             int64  `db:"id"`
	Kind           string `db:"kind"`
	PracticeID     int64  `db:"practice_id"`
	PatientID      int64  `db:"patient_id"`
	ConversationID int64  `db:"conversation_id"`
	MessageID      int64  `db:"message_id"`
}

// Audit is who did what to which object, and how it ended. It never holds message text.
type Audit struct {
	ActorID    int64
	Action     string
	ObjectType string
	ObjectID   int64
	Outcome    string
	RequestID  string
	ClientIP   string
}

// Origin is where a request came from, recorded with each audit row.
type Origin struct {
	RequestID string
	ClientIP  string
}

func writeEvent(ctx context.Context, tx *sqlx.Tx, e Event) (Event, error) {
	err := tx.GetContext(ctx, &e.ID, `
		INSERT INTO events (kind, practice_id, patient_id, conversation_id, message_id)
		VALUES ($1, $2, $3, $4, NULLIF($5, 0)) RETURNING id`,
		e.Kind, e.PracticeID, e.PatientID, e.ConversationID, e.MessageID)
	if err != nil {
		return Event{}, fmt.Errorf("write %s event: %w", e.Kind, err)
	}
	return e, nil
}

func writeAudit(ctx context.Context, tx sqlx.ExecerContext, a Audit) error {
	if a.Outcome == "" {
		a.Outcome = "success"
	}
	_, err := tx.ExecContext(ctx, `
		INSERT INTO audit_log (actor_id, action, object_type, object_id, outcome, request_id, client_ip)
		VALUES (NULLIF($1, 0), $2, $3, NULLIF($4, 0), $5, $6, $7)`,
		a.ActorID, a.Action, a.ObjectType, a.ObjectID, a.Outcome, a.RequestID, a.ClientIP)
	if err != nil {
		return fmt.Errorf("write audit %s: %w", a.Action, err)
	}
	return nil
}

// Record writes an audit row on its own, for what changes nothing else: a read, a sign-in, a
// refused action.
func (s *Store) Record(ctx context.Context, a Audit) error {
	if err := writeAudit(ctx, s.db, a); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
