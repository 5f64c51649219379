package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jmoiron/sqlx"
)

// Every change to a conversation first locks the conversation's row, scoped to the viewer, and
// only then reads the facts Allowed decides on, in a new statement (so it sees whatever a
// competing transaction committed while this one waited). Changes to one conversation therefore
// happen one at a time, a race has exactly one winner, and the loser is judged on the winner's
// result. Locking the conversation first, always, also means two changes cannot deadlock.

type lockedConversation struct {
	id, practiceID, patientID int64
	archived                  bool
}

func lockConversation(ctx context.Context, tx *sqlx.Tx, v Viewer, id int64) (lockedConversation, error) {
	var c lockedConversation
	err := tx.QueryRowxContext(ctx, `
		SELECT id, practice_id, patient_id, archived_at IS NOT NULL
		FROM conversations
		WHERE id = $1 AND practice_id = $2 AND ($3::bigint IS NULL OR patient_id = $3)
		FOR UPDATE`, id, v.PracticeID, v.patientScope()).Scan(&c.id, &c.practiceID, &c.patientID, &c.archived)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	if err != nil {
		return c, fmt.Errorf("store: lock conversation %d: %w", id, err)
	}
	return c, nil
}

func lockConversationOfMessage(ctx context.Context, tx *sqlx.Tx, v Viewer, messageID int64) (lockedConversation, error) {
	if messageID <= 0 {
		return lockedConversation{}, ErrNotFound
	}
	var convID int64
	err := tx.GetContext(ctx, &convID, `SELECT conversation_id FROM messages WHERE id = $1`, messageID)
	if errors.Is(err, sql.ErrNoRows) {
		return lockedConversation{}, ErrNotFound
	}
	if err != nil {
		return lockedConversation{}, fmt.Errorf("store: conversation of message %d: %w", messageID, err)
	}
	// A message never moves between conversations, so the lock taken here covers it; the scope
	// check is in lockConversation.
	return lockConversation(ctx, tx, v, convID)
}

type lockedMessage struct {
	MessageFacts
	subject []byte
}

// messageFacts reads a message's facts; call it with its conversation locked.
func messageFacts(ctx context.Context, tx *sqlx.Tx, id int64) (lockedMessage, error) {
	var m lockedMessage
	err := tx.QueryRowxContext(ctx, `
		SELECT m.author_id, a.role, m.acted_on, m.opened_at IS NOT NULL, m.subject
		FROM messages m JOIN users a ON a.id = m.author_id
		WHERE m.id = $1`, id).Scan(&m.AuthorID, &m.AuthorRole, &m.ActedOn, &m.Opened, &m.subject)
	if errors.Is(err, sql.ErrNoRows) {
		// Cancelled while this transaction waited for the lock.
		return m, ErrNotFound
	}
	if err != nil {
		return m, fmt.Errorf("store: message %d: %w", id, err)
	}
	return m, nil
}
