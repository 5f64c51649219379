package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// What everyone may do to their own account: see their sessions, end the others, and change
// their password. An administrator's changes of other people are in people.go.

// SessionInfo is one of a person's live sessions, as their list of sessions shows it.
type SessionInfo struct {
	Device     string    `db:"device"`
	CreatedAt  time.Time `db:"created_at"`
	LastSeenAt time.Time `db:"last_seen_at"`
	Current    bool      `db:"current"` // the session the list was asked from
}

const maxDeviceLen = 80

// Sessions lists the user's live sessions, the one asking (current, its cookie's token) first,
// then by when each was last used. A session that owes its second factor is listed too: it is
// someone who knows the password.
func (s *Store) Sessions(ctx context.Context, u User, current string, limits SessionLimits) ([]SessionInfo, error) {
	var list []SessionInfo
	err := s.db.SelectContext(ctx, &list, `
		SELECT device, created_at, last_seen_at, token_hash = $2 AS current FROM sessions
		WHERE user_id = $1
		  AND created_at > now() - make_interval(secs => $3)
		  AND last_seen_at > now() - make_interval(secs => $4)
		ORDER BY token_hash = $2 DESC, last_seen_at DESC, created_at DESC`,
		u.ID, hashToken(current), limits.Absolute.Seconds(), limits.Idle.Seconds())
	if err != nil {
		return nil, fmt.Errorf("store: sessions of user %d: %w", u.ID, err)
	}
	return list, nil
}

// EndOtherSessions signs the user out everywhere but the session current (its cookie's token)
// and returns the keys of the sessions ended (SessionKey), whose live streams the caller closes.
func (s *Store) EndOtherSessions(ctx context.Context, u User, current string, o Origin) ([]string, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: end other sessions: %w", err)
	}
	defer tx.Rollback()
	keys, err := endSessions(ctx, tx, u.ID, hashToken(current))
	if err != nil {
		return nil, fmt.Errorf("store: end other sessions: %w", err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: u.ID, Action: "signed_out_elsewhere", ObjectType: "user", ObjectID: u.ID,
		RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return nil, fmt.Errorf("store: end other sessions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: end other sessions: %w", err)
	}
	return keys, nil
}

// Password lengths: long enough that a phrase is the easy choice, short enough to bound the hash.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 200
)

// CheckNewPassword checks a new password and its confirmation, naming each problem by the form's
// fields new_password and confirm.
func CheckNewPassword(password, confirm string) error {
	var v ValidationError
	if n := utf8.RuneCountInString(password); n < MinPasswordLen || n > MaxPasswordLen {
		v.add("new_password", fmt.Sprintf("Choose a password of %d to %d characters; a few words you will remember are a good one.", MinPasswordLen, MaxPasswordLen))
	} else if password != confirm {
		v.add("confirm", "The two new passwords are not the same. Type the new password again.")
	}
	return v.orNil()
}

// ChangePassword sets the user's password (already hashed; the caller checked the current one)
// and ends every other session of theirs, and any link to reset it, in one transaction. It
// returns the keys of the sessions ended, whose live streams the caller closes.
func (s *Store) ChangePassword(ctx context.Context, u User, current, hash string, o Origin) ([]string, error) {
	fail := func(err error) error { return fmt.Errorf("store: change password of user %d: %w", u.ID, err) }
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fail(err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $2 WHERE id = $1 AND deactivated_at IS NULL`, u.ID, hash)
	if err != nil {
		return nil, fail(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, ErrNotFound
	}
	keys, err := endSessions(ctx, tx, u.ID, hashToken(current))
	if err != nil {
		return nil, fail(err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE password_resets SET used_at = now() WHERE user_id = $1 AND used_at IS NULL`, u.ID); err != nil {
		return nil, fail(err)
	}
	if err := recordAccountChange(ctx, tx, AccountChange{PracticeID: u.PracticeID, ActorID: u.ID, TargetID: u.ID,
		What: ChangePasswordChanged}, o); err != nil {
		return nil, fail(err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fail(err)
	}
	return keys, nil
}

// truncate cuts s to at most n characters.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
