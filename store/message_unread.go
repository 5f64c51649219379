package store

import (
	"context"
	"fmt"
)

// MarkUnread puts a message back among the new ones of the side it is addressed to: for staff,
// new to every staff member again. Only that side may, once it has opened the message (Allowed's
// MarkUnread); anything else answers ErrNoLongerApplies and changes nothing. The receipts stay:
// a person did read it. The change is decided by the conditional UPDATE, under the
// conversation's lock like every change, so two Mark as Unread at once have one winner.
func (s *Store) MarkUnread(ctx context.Context, v Viewer, o Origin, messageID int64) (Event, error) {
	fail := func(err error) (Event, error) {
		return Event{}, fmt.Errorf("store: mark message %d unread: %w", messageID, err)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()

	conv, err := lockConversationOfMessage(ctx, tx, v, messageID)
	if err != nil {
		return Event{}, err
	}
	facts, err := messageFacts(ctx, tx, messageID)
	if err != nil {
		return Event{}, err
	}
	facts.ThreadArchived = conv.archived
	if !Allowed(v, facts.MessageFacts).MarkUnread {
		return Event{}, ErrNoLongerApplies
	}
	res, err := tx.ExecContext(ctx, `UPDATE messages SET opened_at = NULL WHERE id = $1 AND opened_at IS NOT NULL`, messageID)
	if err != nil {
		return fail(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return Event{}, ErrNoLongerApplies
	}
	event, err := writeEvent(ctx, tx, Event{Kind: EventMessageUnread, PracticeID: conv.practiceID,
		PatientID: conv.patientID, ConversationID: conv.id, MessageID: messageID})
	if err != nil {
		return fail(err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: v.UserID, Action: "message_unread", ObjectType: "message",
		ObjectID: messageID, RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return event, nil
}
