package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// The second factor is a TOTP (RFC 6238) code from an authenticator app: 6 digits, 30-second
// steps, one step of clock drift either way. pquerna/otp does the arithmetic; the store keeps
// the secret sealed and refuses a code whose step was already used.

const totpPeriod = 30

// ErrBadCode is a second-factor code that is wrong, expired or already used.
var ErrBadCode = errors.New("store: that code is not valid")

// TOTPSetup is what a user needs to add the account to an authenticator app.
type TOTPSetup struct {
	Secret string // base32, to type in
	URI    string // otpauth:// link, for apps that open it
}

func totpAD(userID int64) []byte { return fmt.Appendf(nil, "sm/v1|users.totp_secret|%d", userID) }

// BeginTOTP makes a new secret for the user, not yet in force: EnableTOTP turns it on once the
// user proves their app has it.
func (s *Store) BeginTOTP(ctx context.Context, u User, issuer string) (TOTPSetup, error) {
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: u.Email, Period: totpPeriod})
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("store: totp: %w", err)
	}
	sealed := s.keys.Seal([]byte(key.Secret()), totpAD(u.ID))
	res, err := s.db.ExecContext(ctx, `UPDATE users SET totp_secret = $2 WHERE id = $1 AND NOT totp_enabled`, u.ID, sealed)
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("store: totp: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return TOTPSetup{}, ErrNoLongerApplies // already on: turning it off comes first
	}
	return TOTPSetup{Secret: key.Secret(), URI: key.URL()}, nil
}

// PendingTOTP is the secret BeginTOTP made and EnableTOTP has not yet turned on, shown again
// after a refused attempt to turn it on (the app already holds it); ErrNotFound when there is none.
func (s *Store) PendingTOTP(ctx context.Context, u User, issuer string) (TOTPSetup, error) {
	var sealed []byte
	err := s.db.GetContext(ctx, &sealed, `SELECT totp_secret FROM users WHERE id = $1 AND NOT totp_enabled AND totp_secret IS NOT NULL`, u.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return TOTPSetup{}, ErrNotFound
	}
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("store: totp: %w", err)
	}
	secret, err := s.keys.Open(sealed, totpAD(u.ID))
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("store: totp secret: %w", err)
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(secret))
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("store: totp secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: u.Email, Period: totpPeriod, Secret: raw})
	if err != nil {
		return TOTPSetup{}, fmt.Errorf("store: totp: %w", err)
	}
	return TOTPSetup{Secret: key.Secret(), URI: key.URL()}, nil
}

// EnableTOTP turns the second factor on, if code matches the secret BeginTOTP made.
func (s *Store) EnableTOTP(ctx context.Context, u User, code string, o Origin) error {
	return s.setTOTP(ctx, u, code, o, true)
}

// DisableTOTP turns the second factor off; it takes a current code, so a stolen session alone
// cannot remove it.
func (s *Store) DisableTOTP(ctx context.Context, u User, code string, o Origin) error {
	return s.setTOTP(ctx, u, code, o, false)
}

func (s *Store) setTOTP(ctx context.Context, u User, code string, o Origin, enable bool) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: totp: %w", err)
	}
	defer tx.Rollback()
	if err := checkCode(ctx, tx, s.keys, u.ID, code); err != nil {
		return err
	}
	query := `UPDATE users SET totp_enabled = true WHERE id = $1`
	action := "second_factor_enabled"
	if !enable {
		query = `UPDATE users SET totp_enabled = false, totp_secret = NULL WHERE id = $1`
		action = "second_factor_disabled"
	}
	if _, err := tx.ExecContext(ctx, query, u.ID); err != nil {
		return fmt.Errorf("store: totp: %w", err)
	}
	if err := writeAudit(ctx, tx, Audit{ActorID: u.ID, Action: action, ObjectType: "user", ObjectID: u.ID,
		RequestID: o.RequestID, ClientIP: o.ClientIP}); err != nil {
		return fmt.Errorf("store: totp: %w", err)
	}
	return tx.Commit()
}

// CheckTOTP accepts a code once: the step it belongs to is recorded, and that step or an earlier
// one is refused from then on.
func (s *Store) CheckTOTP(ctx context.Context, u User, code string) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: totp: %w", err)
	}
	defer tx.Rollback()
	if err := checkCode(ctx, tx, s.keys, u.ID, code); err != nil {
		return err
	}
	return tx.Commit()
}

type txQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func checkCode(ctx context.Context, tx txQuerier, keys *Keyring, userID int64, code string) error {
	var sealed []byte
	var lastStep int64
	err := tx.QueryRowContext(ctx, `SELECT totp_secret, totp_last_step FROM users WHERE id = $1 FOR UPDATE`, userID).
		Scan(&sealed, &lastStep)
	if err != nil {
		return fmt.Errorf("store: totp: %w", err)
	}
	if sealed == nil {
		return ErrBadCode
	}
	secret, err := keys.Open(sealed, totpAD(userID))
	if err != nil {
		return fmt.Errorf("store: totp secret: %w", err)
	}
	if _, err := strconv.Atoi(code); err != nil || len(code) != 6 {
		return ErrBadCode
	}
	now := time.Now()
	// Try the current step and one either side, newest first; accept only a step not used yet.
	for _, drift := range []int64{1, 0, -1} {
		t := now.Add(time.Duration(drift*totpPeriod) * time.Second)
		step := t.Unix() / totpPeriod
		want, err := totp.GenerateCodeCustom(string(secret), t, totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return fmt.Errorf("store: totp: %w", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > lastStep {
			_, err := tx.ExecContext(ctx, `UPDATE users SET totp_last_step = $2 WHERE id = $1`, userID, step)
			return err
		}
	}
	return ErrBadCode
}
