package store

import (
	"context"
	"fmt"
)

// Archive closes a conversation for both sides. Whoever archives, every message in it counts as
// acted on from then on, so none of them can be cancelled.
func (s *Store) Archive(ctx context.Context, v Viewer, o Origin, conversationID int64) (Event, error) {
	return s.setArchived(ctx, v, o, conversationID, true)
}

// Reopen opens an archived conversation again.
func (s *Store) Reopen(ctx context.Context, v Viewer, o Origin, conversationID int64) (Event, error) {
	return s.setArchived(ctx, v, o, conversationID, false)
}

func (s *Store) setArchived(ctx context.Context, v Viewer, o Origin, id int64, archive bool) (Event, error) {
	kind, action := EventConversationReopened, "conversation_reopened"
	if archive {
		kind, action = EventConversationArchived, "conversation_archived"
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Event{}, fmt.Errorf("store: %s %d: %w", action, id, err)
	}
	defer tx.Rollback()

	conv, err := lockConversation(ctx, tx, v, id)
	if err != nil {
		return Event{}, err
	}
	allowed := Allowed(v, MessageFacts{ThreadArchived: conv.archived})
	if (archive && !allowed.Archive) || (!archive && !allowed.Reopen) {
		return Event{}, ErrNoLongerApplies
	}
	_, err = tx.ExecContext(ctx, `
		UPDATE conversations
		SET archived_at = CASE WHEN $2 THEN now() END,
		    last_activity_at = CASE WHEN $2 THEN last_activity_at ELSE now() END
		WHERE id = $1`, id, archive)
	if err != nil {
		return Event{}, fmt.Errorf("store: %s %d: %w", action, id, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE messages SET acted_on = true WHERE conversation_id = $1 AND NOT acted_on`, id); err != nil {
		return Event{}, fmt.Errorf("store: %s %d: %w", action, id, err)
	}
	event, err := writeEvent(ctx, tx, Event{Kind: kind, PracticeID: conv.practiceID, PatientID: conv.patientID, ConversationID: id})
	if err != nil {
		return Event{}, fmt.Errorf("store: %s %d: %w", action, id, err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: v.UserID, Action: action, ObjectType: "conversation",
		ObjectID: id, RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return Event{}, fmt.Errorf("store: %s %d: %w", action, id, err)
	}
	if err := tx.Commit(); err != nil {
		return Event{}, fmt.Errorf("store: %s %d: %w", action, id, err)
	}
	return event, nil
}
