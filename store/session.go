package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Sessions live in PostgreSQL rather than in Fiber's session middleware: they must survive Redis
// going down, be found by user (to end them), carry the CSRF token they rotate with, and keep
// only a hash of the cookie's token at rest. Fiber's middleware would store an opaque blob keyed
// by the raw token, through a second PostgreSQL driver.

// SessionLimits are how long a session lasts.
type SessionLimits struct {
	Idle     time.Duration // signed out after this long without a request
	Absolute time.Duration // signed out this long after signing in, whatever happens
}

// Session is a signed-in user's server-side session.
type Session struct {
	User      User
	Practice  Practice // the user's
	CSRFToken string
	CreatedAt time.Time
	// NewestEvent is the newest event of the user's practice when the session was read, at the
	// start of the request (EventHorizon): a page read after it shows every change up to it, so
	// its live stream starts there.
	NewestEvent int64
	// SecondFactorPending: the password was right, the second factor is still owed. Such a
	// session can do nothing but give the code.
	SecondFactorPending bool
}

func newToken() string {
	b := make([]byte, 32) // 256 random bits
	rand.Read(b)          // never fails: crypto/rand panics rather than return weak bytes
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CreateSession signs a user in and returns the new session's token for the cookie. Every
// sign-in makes a new token, so a token planted before sign-in is worth nothing after it.
func (s *Store) CreateSession(ctx context.Context, u User, o Origin) (string, error) {
	return s.createSession(ctx, u, o, u.TOTPEnabled, "signed_in")
}

// CompleteSecondFactor replaces a session that owed its second factor with a full one, under a
// new token: the privilege changed, so the token does too. Only the user's own pending session
// can be completed; anything else answers ErrNotFound.
func (s *Store) CompleteSecondFactor(ctx context.Context, old string, u User, o Origin) (string, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("store: complete second factor: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `
		DELETE FROM sessions WHERE token_hash = $1 AND user_id = $2 AND second_factor_pending`, hashToken(old), u.ID)
	if err != nil {
		return "", fmt.Errorf("store: complete second factor: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", ErrNotFound
	}
	token, err := insertSession(ctx, tx, u, o, false, "second_factor_passed")
	if err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("store: complete second factor: %w", err)
	}
	return token, nil
}

func (s *Store) createSession(ctx context.Context, u User, o Origin, pending bool, action string) (string, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("store: create session: %w", err)
	}
	defer tx.Rollback()
	token, err := insertSession(ctx, tx, u, o, pending, action)
	if err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("store: create session: %w", err)
	}
	return token, nil
}

func insertSession(ctx context.Context, tx *sqlx.Tx, u User, o Origin, pending bool, action string) (string, error) {
	token := newToken()
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO sessions (token_hash, user_id, csrf_token, second_factor_pending, device) VALUES ($1, $2, $3, $4, $5)`,
		hashToken(token), u.ID, newToken(), pending, truncate(o.Device, maxDeviceLen)); err != nil {
		return "", fmt.Errorf("store: create session: %w", err)
	}
	if !pending {
		if _, err := tx.ExecContext(ctx, `DELETE FROM signin_failures WHERE email = $1`, u.Email); err != nil {
			return "", fmt.Errorf("store: create session: %w", err)
		}
	}
	if pending {
		action = "password_passed"
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: u.ID, Action: action, ObjectType: "user", ObjectID: u.ID,
		RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return "", fmt.Errorf("store: create session: %w", err)
	}
	return token, nil
}

// sessionSQL is the session's statement, which every request runs: the session, its user with
// the columns of userColumns (each prefixed u.), the practice and its newest event. It is written
// out whole so that the statement PostgreSQL reports is the one grep finds;
// TestStatementsAsAssembled keeps it in step with userColumns. $1 the token's hash, $2 the absolute
// and $3 the idle limit in seconds.
const sessionSQL = `
		SELECT s.csrf_token, s.created_at, s.last_seen_at, s.second_factor_pending, u.id, u.practice_id, u.role, u.email, u.password_hash, u.full_name, u.initials, u.title, u.answers_messages, u.totp_enabled, u.staff_role, u.administrator,
		       p.name AS practice_name, p.message_fee_cents AS practice_fee_cents, coalesce(p.time_zone, '') AS practice_time_zone,
		       coalesce((SELECT max(e.id) FROM events e WHERE e.practice_id = u.practice_id), 0) AS newest_event
		FROM sessions s JOIN users u ON u.id = s.user_id JOIN practices p ON p.id = u.practice_id
		WHERE s.token_hash = $1 AND u.deactivated_at IS NULL
		  AND s.created_at > now() - make_interval(secs => $2)
		  AND s.last_seen_at > now() - make_interval(secs => $3)`

// SessionByToken finds a live session; an unknown, idle or too old one, or one of a deactivated
// person (whose sessions Deactivate ended already), answers ErrNotFound.
// It marks the session as used, at most once a minute to spare the database a write per request.
// The one statement also reads what every page shows of the user's practice, and where its
// events stand, which would otherwise take two more round trips per page.
func (s *Store) SessionByToken(ctx context.Context, token string, limits SessionLimits) (Session, error) {
	if token == "" {
		return Session{}, ErrNotFound
	}
	var row struct {
		User
		CSRFToken    string    `db:"csrf_token"`
		CreatedAt    time.Time `db:"created_at"`
		LastSeenAt   time.Time `db:"last_seen_at"`
		Pending      bool      `db:"second_factor_pending"`
		PracticeName string    `db:"practice_name"`
		PracticeFee  int       `db:"practice_fee_cents"`
		PracticeZone string    `db:"practice_time_zone"`
		NewestEvent  int64     `db:"newest_event"`
	}
	err := s.get(ctx, &row, sessionSQL,
		hashToken(token), limits.Absolute.Seconds(), limits.Idle.Seconds())
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, ErrNotFound
	}
	if err != nil {
		return Session{}, fmt.Errorf("store: session: %w", err)
	}
	if time.Since(row.LastSeenAt) > time.Minute {
		if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = now() WHERE token_hash = $1`,
			hashToken(token)); err != nil {
			return Session{}, fmt.Errorf("store: touch session: %w", err)
		}
	}
	// A zone Go does not know would show the practice's dates in another: refused here, where
	// every request reads it, as where it is written (CreatePractice). "" is the default's.
	if _, err := LoadZone(row.PracticeZone); row.PracticeZone != "" && err != nil {
		return Session{}, fmt.Errorf("store: session: practice %d: %w", row.PracticeID, err)
	}
	return Session{User: row.User, CSRFToken: row.CSRFToken, CreatedAt: row.CreatedAt, SecondFactorPending: row.Pending,
		Practice:    Practice{ID: row.PracticeID, Name: row.PracticeName, MessageFeeCents: row.PracticeFee, TimeZone: row.PracticeZone},
		NewestEvent: row.NewestEvent}, nil
}

// SessionKey names a session without its token: the hex of the token's hash, as stored. Live
// streams are registered under it, so a sign-out can close them.
func SessionKey(token string) string { return hex.EncodeToString(hashToken(token)) }

// SessionActive reports whether the session behind key is still signed in, without counting the
// check as use: an open page does not keep an idle session alive.
func (s *Store) SessionActive(ctx context.Context, key string, limits SessionLimits) (bool, error) {
	hash, err := hex.DecodeString(key)
	if err != nil {
		return false, nil
	}
	var active bool
	err = s.db.GetContext(ctx, &active, `
		SELECT EXISTS (SELECT 1 FROM sessions WHERE token_hash = $1
		               AND created_at > now() - make_interval(secs => $2)
		               AND last_seen_at > now() - make_interval(secs => $3))`,
		hash, limits.Absolute.Seconds(), limits.Idle.Seconds())
	if err != nil {
		return false, fmt.Errorf("store: session active: %w", err)
	}
	return active, nil
}

// EndSession signs the session's user out, server-side.
func (s *Store) EndSession(ctx context.Context, token string, o Origin) error {
	var userID int64
	err := s.db.GetContext(ctx, &userID, `DELETE FROM sessions WHERE token_hash = $1 RETURNING user_id`, hashToken(token))
	if errors.Is(err, sql.ErrNoRows) {
		return nil // already ended or expired: signing out again is not an error
	}
	if err != nil {
		return fmt.Errorf("store: end session: %w", err)
	}
	return s.Record(ctx, Audit{ActorID: userID, Action: "signed_out", ObjectType: "user", ObjectID: userID,
		RequestID: o.RequestID, ClientIP: o.ClientIP})
}

// PruneSessions deletes the sessions that have ended by themselves, idle too long or past their
// absolute lifetime: SessionByToken refuses them already, and their rows would only pile up.
func (s *Store) PruneSessions(ctx context.Context, limits SessionLimits) (int64, error) {
	res, err := s.db.ExecContext(ctx, `
		DELETE FROM sessions
		WHERE created_at <= now() - make_interval(secs => $1) OR last_seen_at <= now() - make_interval(secs => $2)`,
		limits.Absolute.Seconds(), limits.Idle.Seconds())
	if err != nil {
		return 0, fmt.Errorf("store: prune sessions: %w", err)
	}
	return res.RowsAffected()
}
