package store

import (
	"context"
	"encoding/binary"
	"fmt"
)

// Reencrypt moves messages sealed with an older key onto the primary key, batch by batch, each
// batch in its own transaction. It can be stopped and run again at any time: it picks up
// whatever is still sealed with another key. It returns how many messages it moved.
//
// Rotation: add the new key at the front of MESSAGE_KEYS (keeping the old one after it), deploy,
// run `securemessages reencrypt`, and drop the old key once it reports nothing left.
func (s *Store) Reencrypt(ctx context.Context, batch int) (int, error) {
	primary := make([]byte, 4)
	binary.BigEndian.PutUint32(primary, s.keys.PrimaryKeyID())
	moved := 0
	for {
		n, err := s.reencryptBatch(ctx, primary, batch)
		moved += n
		if err != nil || n == 0 {
			return moved, err
		}
	}
}

func (s *Store) reencryptBatch(ctx context.Context, primary []byte, batch int) (int, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: re-encrypt: %w", err)
	}
	defer tx.Rollback()
	var rows []struct {
		ID             int64  `db:"id"`
		ConversationID int64  `db:"conversation_id"`
		Subject        []byte `db:"subject"`
		Body           []byte `db:"body"`
		Instructions   []byte `db:"instructions"`
	}
	// The key id is bytes 2 to 5 of each sealed value (see crypto.go). SKIP LOCKED lets two
	// runs share the work, and never waits on a message being changed right now.
	err = tx.SelectContext(ctx, &rows, `
		SELECT id, conversation_id, subject, body, instructions FROM messages
		WHERE substring(subject FROM 2 FOR 4) <> $1 OR substring(body FROM 2 FOR 4) <> $1
		   OR substring(instructions FROM 2 FOR 4) <> $1
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, primary, batch)
	if err != nil {
		return 0, fmt.Errorf("store: re-encrypt: %w", err)
	}
	for _, r := range rows {
		cols := map[string][]byte{"subject": r.Subject, "body": r.Body, "instructions": r.Instructions}
		for name, sealed := range cols {
			ad := messageAD(name, r.ID, r.ConversationID)
			plain, err := s.keys.Open(sealed, ad)
			if err != nil {
				return 0, fmt.Errorf("store: re-encrypt message %d %s: %w", r.ID, name, err)
			}
			cols[name] = s.keys.Seal(plain, ad)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE messages SET subject = $2, body = $3, instructions = $4 WHERE id = $1`,
			r.ID, cols["subject"], cols["body"], cols["instructions"]); err != nil {
			return 0, fmt.Errorf("store: re-encrypt message %d: %w", r.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: re-encrypt: %w", err)
	}
	return len(rows), nil
}
