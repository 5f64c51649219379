package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Event kinds, as written to the events table and published to live viewers.
const (
	EventMessageSent          = "message_sent"
	EventConversationArchived = "conversation_archived"
	EventConversationReopened = "conversation_reopened"
	EventMessageCancelled     = "message_cancelled"
)

// eventLockSpace is the first key of the advisory locks that order each practice's events.
const eventLockSpace = 7310

// Event describes one committed change: ids and a kind, never message text.
type Event struct {
	ID             int64  `db:"id"`
	Kind           string `db:"kind"`
	PracticeID     int64  `db:"practice_id"`
	PatientID      int64  `db:"patient_id"`
	ConversationID int64  `db:"conversation_id"`
	MessageID      int64  `db:"message_id"`
}

// EventsAfter lists the viewer's events with ids above after, oldest first, at most limit. It
// is what a reconnecting page replays.
func (s *Store) EventsAfter(ctx context.Context, v Viewer, after int64, limit int) ([]Event, error) {
	var events []Event
	err := s.db.SelectContext(ctx, &events, `
		SELECT id, kind, practice_id, patient_id, conversation_id, coalesce(message_id, 0) AS message_id
		FROM events
		WHERE id > $1 AND practice_id = $2 AND ($3::bigint IS NULL OR patient_id = $3)
		ORDER BY id
		LIMIT $4`, after, v.PracticeID, v.patientScope(), limit)
	if err != nil {
		return nil, fmt.Errorf("store: events after %d: %w", after, err)
	}
	return events, nil
}

// EventHorizon reports the newest event of a practice, and the oldest event still kept. A page
// that has seen less than the oldest kept cannot be replayed to and must reload.
//
// The newest is the practice's own: its events commit in the order of their ids (writeEvent), so
// every one of them up to it is committed, and any later one will be replayed or sent live. Ids
// are drawn from one sequence for all practices, so another practice's newer id may commit while
// an older one of this practice is still open: a page that took that id would never be sent the
// older event.
func (s *Store) EventHorizon(ctx context.Context, practiceID int64) (newest, oldest int64, err error) {
	var h struct {
		Newest int64 `db:"newest"`
		Oldest int64 `db:"oldest"`
	}
	err = s.get(ctx, &h, `
		SELECT coalesce((SELECT max(id) FROM events WHERE practice_id = $1), 0) AS newest,
		       coalesce((SELECT min(id) FROM events), 0) AS oldest`, practiceID)
	if err != nil {
		return 0, 0, fmt.Errorf("store: event horizon: %w", err)
	}
	return h.Newest, h.Oldest, nil
}

// PruneEvents deletes events older than the retention window; they exist only for replay.
func (s *Store) PruneEvents(ctx context.Context, keep time.Duration) (int64, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM events WHERE created_at < now() - make_interval(secs => $1)`, keep.Seconds())
	if err != nil {
		return 0, fmt.Errorf("store: prune events: %w", err)
	}
	return res.RowsAffected()
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
	// PatientID names the patient whose data the row is about where its object will not: a
	// message deleted in the same transaction. Otherwise the chain's trigger works it out.
	PatientID int64
	// Detail is what the row says beyond its object (an export's filters); part of the hash.
	Detail string
}

// Origin is where a request came from, recorded with each audit row.
type Origin struct {
	RequestID string
	ClientIP  string
	// Device is what the request came from in a few words ("Firefox on Android"), which a
	// session started by it keeps for its owner's list of sessions; never audited.
	Device string
}

// writeEvent adds a change's row to the outbox. It first takes a lock per practice, held to
// commit, so a practice's events commit in the order of their ids: a viewer who has seen event N
// has then seen every earlier event of theirs, and replaying "after N" leaves no gap.
func writeEvent(ctx context.Context, tx *sqlx.Tx, e Event) (Event, error) {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2::int)`, eventLockSpace, e.PracticeID); err != nil {
		return Event{}, fmt.Errorf("order %s event: %w", e.Kind, err)
	}
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
		INSERT INTO audit_log (actor_id, action, object_type, object_id, outcome, request_id, client_ip, patient_id, detail)
		VALUES (NULLIF($1, 0), $2, $3, NULLIF($4, 0), $5, $6, $7, NULLIF($8, 0), NULLIF($9, ''))`,
		a.ActorID, a.Action, a.ObjectType, a.ObjectID, a.Outcome, a.RequestID, a.ClientIP, a.PatientID, a.Detail)
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

// RecordDenied audits a refusal to show the viewer a message or conversation (objectType
// "message" or "conversation") that is someone else's, so that probing for other people's ids
// leaves a trace an operator can review. An id that names no row at all writes nothing: it
// touches nobody's data, and a client could otherwise fill the log by counting. One statement,
// run only on the not-found path.
func (s *Store) RecordDenied(ctx context.Context, v Viewer, o Origin, objectType string, id int64) error {
	if objectType != "message" && objectType != "conversation" {
		return fmt.Errorf("store: record denied access: unknown object type %q", objectType)
	}
	_, err := s.db.ExecContext(ctx, `
		INSERT INTO audit_log (actor_id, action, object_type, object_id, outcome, request_id, client_ip)
		SELECT $1, 'access_denied', $2, $3, 'denied', $4, $5
		FROM conversations c
		WHERE c.id = CASE $2::text WHEN 'conversation' THEN $3::bigint
		                           ELSE (SELECT conversation_id FROM messages WHERE id = $3) END
		  AND NOT (c.practice_id = $6 AND ($7::bigint IS NULL OR c.patient_id = $7))`,
		v.UserID, objectType, id, o.RequestID, o.ClientIP, v.PracticeID, v.patientScope())
	if err != nil {
		return fmt.Errorf("store: record denied access to %s %d: %w", objectType, id, err)
	}
	return nil
}
