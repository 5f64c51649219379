package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
)

// Reencrypt moves messages sealed with an older key onto the primary key, batch by batch, each
// batch in its own transaction, and then the second-factor secrets. It can be stopped and run again at any time: it picks up
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
		if err != nil {
			return moved, err
		}
		if n == 0 {
			break
		}
	}
	// Second-factor secrets are sealed with the same keys (see totp.go): left behind, dropping
	// the old key would lock every enrolled user out.
	if err := s.reencryptTOTPSecrets(ctx, primary); err != nil {
		return moved, err
	}
	// And the onboarding's personal data: invitations' names and dates of birth, patients' dates
	// of birth, uploads waiting for their confirmation.
	for _, c := range onboardingColumns {
		if err := s.reencryptColumn(ctx, primary, c); err != nil {
			return moved, err
		}
	}
	return moved, nil
}

// sealedColumn is a sealed column re-sealed by reencryptColumn, with its associated data.
type sealedColumn struct {
	table, column string
	ad            func(id string, practiceID int64) []byte
}

var onboardingColumns = []sealedColumn{
	{"invitations", "full_name", func(id string, p int64) []byte { return invitationAD("full_name", atoi(id), p) }},
	{"invitations", "date_of_birth", func(id string, p int64) []byte { return invitationAD("date_of_birth", atoi(id), p) }},
	{"users", "date_of_birth", func(id string, _ int64) []byte { return userBirthAD(atoi(id)) }},
	{"patient_imports", "rows", importAD},
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// reencryptColumn re-seals each value of c sealed with another key, with a compare-and-swap as
// the second-factor secrets are: a value changed meanwhile is left for the next run.
func (s *Store) reencryptColumn(ctx context.Context, primary []byte, c sealedColumn) error {
	var rows []struct {
		ID         string `db:"id"`
		PracticeID int64  `db:"practice_id"`
		Sealed     []byte `db:"sealed"`
	}
	err := s.db.SelectContext(ctx, &rows, fmt.Sprintf(`
		SELECT id::text AS id, practice_id, %[2]s AS sealed FROM %[1]s
		WHERE %[2]s IS NOT NULL AND substring(%[2]s FROM 2 FOR 4) <> $1`, c.table, c.column), primary)
	if err != nil {
		return fmt.Errorf("store: re-encrypt %s.%s: %w", c.table, c.column, err)
	}
	for _, r := range rows {
		ad := c.ad(r.ID, r.PracticeID)
		plain, err := s.keys.Open(r.Sealed, ad)
		if err != nil {
			return fmt.Errorf("store: re-encrypt %s.%s of %s: %w", c.table, c.column, r.ID, err)
		}
		if _, err := s.db.ExecContext(ctx, fmt.Sprintf(`UPDATE %[1]s SET %[2]s = $2 WHERE id::text = $1 AND %[2]s = $3`, c.table, c.column),
			r.ID, s.keys.Seal(plain, ad), r.Sealed); err != nil {
			return fmt.Errorf("store: re-encrypt %s.%s of %s: %w", c.table, c.column, r.ID, err)
		}
	}
	return nil
}

// reencryptTOTPSecrets re-seals each secret with a compare-and-swap rather than a row lock, so
// it never holds up a sign-in; a secret replaced meanwhile is left for the next run.
func (s *Store) reencryptTOTPSecrets(ctx context.Context, primary []byte) error {
	var rows []struct {
		ID     int64  `db:"id"`
		Secret []byte `db:"totp_secret"`
	}
	err := s.db.SelectContext(ctx, &rows, `
		SELECT id, totp_secret FROM users
		WHERE totp_secret IS NOT NULL AND substring(totp_secret FROM 2 FOR 4) <> $1`, primary)
	if err != nil {
		return fmt.Errorf("store: re-encrypt second-factor secrets: %w", err)
	}
	for _, r := range rows {
		plain, err := s.keys.Open(r.Secret, totpAD(r.ID))
		if err != nil {
			return fmt.Errorf("store: re-encrypt second-factor secret of user %d: %w", r.ID, err)
		}
		if _, err := s.db.ExecContext(ctx, `UPDATE users SET totp_secret = $2 WHERE id = $1 AND totp_secret = $3`,
			r.ID, s.keys.Seal(plain, totpAD(r.ID)), r.Secret); err != nil {
			return fmt.Errorf("store: re-encrypt second-factor secret of user %d: %w", r.ID, err)
		}
	}
	return nil
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
