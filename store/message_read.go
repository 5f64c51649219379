package store

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Opened is a message's details as OpenMessage read them, and the event of the read when it
// changed what its addressed side sees (ID 0 when it did not: a second look, or the author's).
type Opened struct {
	Message *Message
	Event   Event
}

// MessageDetails is OpenMessage for a caller that publishes nothing: the message alone.
func (s *Store) MessageDetails(ctx context.Context, v Viewer, o Origin, id int64) (*Message, error) {
	res, err := s.OpenMessage(ctx, v, o, id)
	return res.Message, err
}

// OpenMessage loads one of the viewer's messages with its text and special instructions, and
// records the read: in the audit log, among the message's reads (the reader's first), and, when
// the viewer is on the side the message is addressed to, as opened. Another's message answers
// ErrNotFound. All of it commits together, so the receipts and the audit log agree; the caller
// publishes the event after.
func (s *Store) OpenMessage(ctx context.Context, v Viewer, o Origin, id int64) (Opened, error) {
	fail := func(err error) (Opened, error) { return Opened{}, fmt.Errorf("store: read message %d: %w", id, err) }
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()

	m, r, err := message(ctx, tx, s, v, id)
	if err != nil {
		return Opened{}, err
	}
	body, err := s.keys.Open(r.Body, messageAD("body", r.MessageID, r.ConversationID))
	if err != nil {
		return fail(err)
	}
	instr, err := s.keys.Open(r.Instructions, messageAD("instructions", r.MessageID, r.ConversationID))
	if err != nil {
		return fail(err)
	}
	m.Details = &Details{Body: string(body), RequestedStaffName: r.RequestedStaffName.String}
	if err := decodeInstructions(instr, &m.Details.Instructions); err != nil {
		return fail(err)
	}
	res := Opened{Message: m}
	changed, err := recordRead(ctx, tx, v, m)
	if err != nil {
		return fail(err)
	}
	if changed {
		res.Event, err = writeEvent(ctx, tx, Event{Kind: EventMessageRead, PracticeID: v.PracticeID,
			PatientID: r.PatientID.Int64, ConversationID: m.ConversationID, MessageID: id})
		if err != nil {
			return fail(err)
		}
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: v.UserID, Action: "message_read", ObjectType: "message",
		ObjectID: id, RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	m.Opened = m.Opened || Addressed(v, m.Facts())
	return res, nil
}

// recordRead writes the viewer's first read of m and, for its addressed side, opens it. It
// reports whether what that side or the other sees changed: the message opened, or a first read
// by someone of the addressed side (whom the receipts name).
//
// The message is opened first: its row's lock orders two staff members opening it at once, so
// the first to open it is also the first reader (clock_timestamp, not the transaction's start).
func recordRead(ctx context.Context, tx *sqlx.Tx, v Viewer, m *Message) (bool, error) {
	addressed := Addressed(v, m.Facts())
	opened := false
	if addressed {
		res, err := tx.ExecContext(ctx, `UPDATE messages SET opened_at = now() WHERE id = $1 AND opened_at IS NULL`, m.ID)
		if err != nil {
			return false, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return false, err
		}
		opened = n > 0
	}
	res, err := tx.ExecContext(ctx, `
		INSERT INTO message_reads (message_id, reader_id, first_read_at) VALUES ($1, $2, clock_timestamp())
		ON CONFLICT (message_id, reader_id) DO NOTHING`, m.ID, v.UserID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, err
	}
	firstRead := n > 0
	if addressed && firstRead && !opened {
		// A new name among the receipts, on a message already open: the conversation's revision
		// must change all the same, or a kept list would go on showing the receipts without it.
		if _, err := tx.ExecContext(ctx, `UPDATE conversations SET revision = revision + 1 WHERE id = $1`, m.ConversationID); err != nil {
			return false, err
		}
	}
	return addressed && (opened || firstRead), nil
}
