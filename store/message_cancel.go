package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Cancelled tells what a cancel removed.
type Cancelled struct {
	ConversationID   int64
	ConversationGone bool // the cancelled message was the first, so the conversation went with it
	Event            Event
}

// Cancel deletes the viewer's own message for both sides, permanently, if nobody has acted on it
// yet and its thread is open. Racing a reply or an archive, exactly one wins: the conversation
// lock orders them, and the DELETE itself also requires acted_on to be false and the thread to be
// open, so neither a committed reply nor an archived thread is ever taken with it.
func (s *Store) Cancel(ctx context.Context, v Viewer, o Origin, messageID int64) (Cancelled, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Cancelled{}, fmt.Errorf("store: cancel message %d: %w", messageID, err)
	}
	defer tx.Rollback()

	conv, err := lockConversationOfMessage(ctx, tx, v, messageID)
	if err != nil {
		return Cancelled{}, err
	}
	facts, err := messageFacts(ctx, tx, messageID)
	if err != nil {
		return Cancelled{}, err
	}
	facts.ThreadArchived = conv.archived
	if !Allowed(v, facts.MessageFacts).Cancel {
		if err := writeAudit(ctx, tx, Audit{ActorID: v.UserID, Action: "message_cancelled", ObjectType: "message",
			ObjectID: messageID, Outcome: "too_late", RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
			return Cancelled{}, fmt.Errorf("store: cancel message %d: %w", messageID, err)
		}
		if err := tx.Commit(); err != nil {
			return Cancelled{}, fmt.Errorf("store: cancel message %d: %w", messageID, err)
		}
		return Cancelled{}, ErrNoLongerApplies
	}
	// An automatic reply is nobody acting on the message: it goes with it, unless the patient has
	// answered it (then the DELETE below finds a reply under the message and refuses).
	if _, err := tx.ExecContext(ctx, `
		DELETE FROM messages r USING users a
		WHERE r.parent_id = $1 AND a.id = r.author_id AND a.automatic AND NOT r.acted_on`, messageID); err != nil {
		return Cancelled{}, fmt.Errorf("store: cancel message %d: %w", messageID, err)
	}
	var parentID sql.NullInt64
	err = tx.GetContext(ctx, &parentID, `
		DELETE FROM messages m WHERE m.id = $1 AND m.author_id = $2 AND NOT m.acted_on
		AND EXISTS (SELECT 1 FROM conversations c WHERE c.id = m.conversation_id AND c.archived_at IS NULL)
		AND NOT EXISTS (SELECT 1 FROM messages r WHERE r.parent_id = m.id)
		RETURNING m.parent_id`,
		messageID, v.UserID)
	if errors.Is(err, sql.ErrNoRows) {
		return Cancelled{}, ErrNoLongerApplies
	}
	if err != nil {
		return Cancelled{}, fmt.Errorf("store: cancel message %d: %w", messageID, err)
	}
	res := Cancelled{ConversationID: conv.id}
	if !parentID.Valid {
		// The first message has no replies (it could not be cancelled otherwise), so it was the
		// only one: the conversation goes with it.
		if _, err := tx.ExecContext(ctx, `DELETE FROM conversations WHERE id = $1`, conv.id); err != nil {
			return Cancelled{}, fmt.Errorf("store: cancel message %d: %w", messageID, err)
		}
		res.ConversationGone = true
	}
	res.Event, err = writeEvent(ctx, tx, Event{Kind: EventMessageCancelled, PracticeID: conv.practiceID,
		PatientID: conv.patientID, ConversationID: conv.id, MessageID: messageID})
	if err != nil {
		return Cancelled{}, fmt.Errorf("store: cancel message %d: %w", messageID, err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: v.UserID, Action: "message_cancelled", ObjectType: "message",
		ObjectID: messageID, PatientID: conv.patientID, RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return Cancelled{}, fmt.Errorf("store: cancel message %d: %w", messageID, err)
	}
	if err := tx.Commit(); err != nil {
		return Cancelled{}, fmt.Errorf("store: cancel message %d: %w", messageID, err)
	}
	return res, nil
}
