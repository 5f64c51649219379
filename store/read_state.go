package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lib/pq"
)

// Read state: a message is new (Unread) to the side it is addressed to (Addressed) until someone of that
// side opens its details, and Mark as Unread puts it back. The state is one column of the
// message (messages.opened_at, 00013_read_state.sql), so for staff a patient's message is new to
// every staff member until one of them opens it. Who read what, and when first, is kept apart
// (message_reads), written in the transaction of the audit log's message_read row.
//
// What a list shows of both is part of the conversation's revision: opening, marking unread and
// a first read by someone of the addressed side all update the message or its conversation, so
// the caches keyed by revision (conversation_cache.go, app/conversation_cache.go) never show an
// old mark.

// Event kinds of read state.
const (
	EventMessageRead   = "message_read"
	EventMessageUnread = "message_unread"
)

// Read is one person of the addressed side who opened a message: when first, and who, as the
// other side sees them named.
type Read struct {
	ReaderID   int64
	ReaderName string // as the practice writes it: "Jordan Patel, RN"
	At         time.Time
}

// readStateSQL reads, for every message of the conversations $1 (scoped to practice $2 and, for a
// patient, patient $3), whether its addressed side has opened it and who of that side read it,
// first reader first: one statement for a page, whatever the number of its messages.
const readStateSQL = `
		SELECT m.id, m.opened_at IS NOT NULL AS opened, r.reader_id, u.full_name, r.first_read_at
		FROM messages m
		JOIN conversations c ON c.id = m.conversation_id
		JOIN users a ON a.id = m.author_id
		LEFT JOIN (message_reads r JOIN users u ON u.id = r.reader_id)
		       ON r.message_id = m.id AND u.role <> a.role
		WHERE m.conversation_id = ANY($1) AND c.practice_id = $2 AND ($3::bigint IS NULL OR c.patient_id = $3)
		ORDER BY m.id, r.first_read_at, r.reader_id`

// addReadState fills in the read state of the messages of list, read for viewer v.
func (s *Store) addReadState(ctx context.Context, v Viewer, list []*Conversation) error {
	if len(list) == 0 {
		return nil
	}
	byID := map[int64]*Message{}
	ids := make([]int64, len(list))
	for i, c := range list {
		ids[i] = c.ID
		for m := range walk(c.Messages) {
			byID[m.ID] = m
		}
	}
	return s.query(ctx, readStateSQL, []any{pq.Array(ids), v.PracticeID, v.patientScope()}, func(rs *sql.Rows) error {
		for _, m := range byID {
			m.Opened, m.Reads = false, nil // a statement prepared again runs the query again
		}
		for rs.Next() {
			var (
				id     int64
				opened bool
				reader sql.NullInt64
				name   sql.NullString
				at     sql.NullTime
			)
			if err := rs.Scan(&id, &opened, &reader, &name, &at); err != nil {
				return err
			}
			m, ok := byID[id]
			if !ok {
				continue // sent between the two statements: the next list shows it
			}
			m.Opened = opened
			if reader.Valid {
				m.Reads = append(m.Reads, Read{ReaderID: reader.Int64, ReaderName: name.String, At: at.Time})
			}
		}
		return rs.Err()
	})
}

// The counts of NewCount, a statement each rather than one with "this patient or any" in it, so
// that each keeps one plan (see listQuery).
const (
	// $1 the patient, $2 the practice: the practice's messages in her conversations not opened.
	newToPatientSQL = `
		SELECT count(*) FROM conversations c
		JOIN messages m ON m.conversation_id = c.id AND m.opened_at IS NULL
		JOIN users a ON a.id = m.author_id
		WHERE c.patient_id = $1 AND c.practice_id = $2 AND a.role = 'staff'`
	// $1 the practice: its patients' messages nobody on staff has opened.
	newToStaffSQL = `
		SELECT count(*) FROM conversations c
		JOIN messages m ON m.conversation_id = c.id AND m.opened_at IS NULL
		JOIN users a ON a.id = m.author_id
		WHERE c.practice_id = $1 AND a.role = 'patient'`
)

// walk yields every message of a tree, parents before their replies.
func walk(ms []*Message) func(yield func(*Message) bool) {
	return func(yield func(*Message) bool) {
		var visit func([]*Message) bool
		visit = func(ms []*Message) bool {
			for _, m := range ms {
				if !yield(m) || !visit(m.Replies) {
					return false
				}
			}
			return true
		}
		visit(ms)
	}
}

// NewCount counts the messages new to the viewer (Unread): for a patient, the practice's messages in
// their conversations not opened yet; for staff, the patients' messages nobody on staff has opened.
// Archived conversations count too: a reply that arrived as a thread was closed is still unread.
//
// asOf is the practice's newest event when the count is asked for, as for AwaitingCount: every
// change to what is new (a message sent or cancelled, a read, a Mark as Unread) writes an event of
// the practice, so a count is kept by asOf.
func (s *Store) NewCount(ctx context.Context, v Viewer, asOf int64) (int, error) {
	key := awaitingKey{practiceID: v.PracticeID, patientScope: v.patientScope().Int64, asOf: asOf, newCount: true}
	if s.lists.awaiting != nil {
		if n, ok := s.lists.awaiting.Get(key); ok {
			return n, nil
		}
	}
	var n int
	var err error
	if v.Role == RolePatient {
		err = s.get(ctx, &n, newToPatientSQL, v.UserID, v.PracticeID)
	} else {
		err = s.get(ctx, &n, newToStaffSQL, v.PracticeID)
	}
	if err != nil {
		return 0, fmt.Errorf("store: new messages of user %d: %w", v.UserID, err)
	}
	if s.lists.awaiting != nil {
		s.lists.awaiting.Add(key, n)
	}
	return n, nil
}
