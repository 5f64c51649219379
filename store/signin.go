package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Sign-in throttling counts failures in PostgreSQL: the limit then holds across instances and
// does not fail open when Redis is down, which Fiber's limiter middleware would (it reads an
// unreachable store as an empty counter).

// SigninLimits bound sign-ins within a window: failed ones, and all attempts whatever their
// outcome (each costs a password hash, so a right password looped from many clients would
// otherwise take the cores from everyone else's pages).
type SigninLimits struct {
	Window     time.Duration
	PerAccount int // failures
	PerAddress int
	// Attempts, right or wrong. Fewer than one (a SigninLimits written out by hand) takes the
	// default.
	AttemptsPerAccount int
	AttemptsPerAddress int
}

// DefaultSigninLimits: five failures lock an account, thirty an address, for 15 minutes.
// Attempts of any outcome are allowed far beyond what people do: thirty for one account (a
// patient retrying, on a phone and a laptop) and six hundred from one address (a practice's
// front desk and waiting-room tablet behind one NAT address, at shift change), yet a loop from
// one address is stopped after a few seconds.
var DefaultSigninLimits = SigninLimits{Window: 15 * time.Minute, PerAccount: 5, PerAddress: 30,
	AttemptsPerAccount: 30, AttemptsPerAddress: 600}

// attempts are the attempt limits, defaults filled in.
func (l SigninLimits) attempts() (perAccount, perAddress int) {
	perAccount, perAddress = l.AttemptsPerAccount, l.AttemptsPerAddress
	if perAccount < 1 {
		perAccount = DefaultSigninLimits.AttemptsPerAccount
	}
	if perAddress < 1 {
		perAddress = DefaultSigninLimits.AttemptsPerAddress
	}
	return perAccount, perAddress
}

// SigninBlocked reports whether an account or an address has failed too often recently.
func (s *Store) SigninBlocked(ctx context.Context, email, ip string, l SigninLimits) (bool, error) {
	var blocked bool
	err := s.db.GetContext(ctx, &blocked, `
		SELECT (SELECT count(*) FROM signin_failures
		        WHERE email = $1 AND occurred_at > now() - make_interval(secs => $3)) >= $4
		    OR (SELECT count(*) FROM signin_failures
		        WHERE client_ip = $2 AND occurred_at > now() - make_interval(secs => $3)) >= $5`,
		normalEmail(email), ip, l.Window.Seconds(), l.PerAccount, l.PerAddress)
	if err != nil {
		return false, fmt.Errorf("store: sign-in limit: %w", err)
	}
	return blocked, nil
}

// CountSigninAttempt counts a sign-in attempt against the account's and the address's attempt
// limits, and reports false (counting nothing) when either is already reached. Attempts for one
// account, and from one address, are counted one at a time (transaction-scoped advisory locks,
// the account's always before the address's, so two attempts cannot deadlock): a burst of
// simultaneous attempts lets in exactly as many as the limit allows, never more and never none.
func (s *Store) CountSigninAttempt(ctx context.Context, email, ip string, l SigninLimits) (bool, error) {
	perAccount, perAddress := l.attempts()
	email = normalEmail(email)
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("store: count sign-in attempt: %w", err)
	}
	defer tx.Rollback()
	for _, lock := range []struct {
		space int
		key   string
	}{{attemptAccountLockSpace, email}, {attemptAddressLockSpace, ip}} {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, lock.space, lock.key); err != nil {
			return false, fmt.Errorf("store: count sign-in attempt: %w", err)
		}
	}
	var over bool
	err = tx.GetContext(ctx, &over, `
		SELECT (SELECT count(*) FROM signin_attempts
		        WHERE email = $1 AND occurred_at > now() - make_interval(secs => $3)) >= $4
		    OR (SELECT count(*) FROM signin_attempts
		        WHERE client_ip = $2 AND occurred_at > now() - make_interval(secs => $3)) >= $5`,
		email, ip, l.Window.Seconds(), perAccount, perAddress)
	if err != nil {
		return false, fmt.Errorf("store: count sign-in attempt: %w", err)
	}
	if over {
		return false, nil // a refused attempt is not counted, so the lock ends a window after the last one let in
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO signin_attempts (email, client_ip) VALUES ($1, $2)`, email, ip); err != nil {
		return false, fmt.Errorf("store: count sign-in attempt: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("store: count sign-in attempt: %w", err)
	}
	return true, nil
}

// The first keys of the advisory locks that count sign-in attempts one at a time, per account and
// per address (eventLockSpace is another's).
const (
	attemptAccountLockSpace = 7311
	attemptAddressLockSpace = 7312
)

// RecordSigninFailure counts a failed sign-in and audits it.
func (s *Store) RecordSigninFailure(ctx context.Context, email string, o Origin) error {
	return s.recordFailure(ctx, email, Audit{Action: "sign_in_failed", Outcome: "failure", RequestID: o.RequestID, ClientIP: o.ClientIP})
}

// RecordSecondFactorFailure counts a wrong password or code given to turn the second factor on
// or off against the same limits as sign-ins (a stolen session must not be a way to guess codes
// or passwords without limit), and audits it. Neither the password nor the code is recorded.
func (s *Store) RecordSecondFactorFailure(ctx context.Context, u User, o Origin) error {
	return s.recordFailure(ctx, u.Email, Audit{ActorID: u.ID, Action: "second_factor_failed", ObjectType: "user", ObjectID: u.ID,
		Outcome: "failure", RequestID: o.RequestID, ClientIP: o.ClientIP})
}

// RecordPasswordCheckFailure counts a wrong current password given to change the password
// against the sign-in limits, and audits it, for the same reason as RecordSecondFactorFailure.
func (s *Store) RecordPasswordCheckFailure(ctx context.Context, u User, o Origin) error {
	return s.recordFailure(ctx, u.Email, Audit{ActorID: u.ID, Action: "password_check_failed", ObjectType: "user", ObjectID: u.ID,
		Outcome: "failure", RequestID: o.RequestID, ClientIP: o.ClientIP})
}

func (s *Store) recordFailure(ctx context.Context, email string, a Audit) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: record %s: %w", a.Action, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO signin_failures (email, client_ip) VALUES ($1, $2)`,
		normalEmail(email), a.ClientIP); err != nil {
		return fmt.Errorf("store: record %s: %w", a.Action, err)
	}
	if err := writeAudit(ctx, tx, a); err != nil {
		return fmt.Errorf("store: record %s: %w", a.Action, err)
	}
	return tx.Commit()
}

// signinPrunes are PruneSigninCounts's statements, one per table, each written out so that grep
// finds it; $1 the window in seconds.
var signinPrunes = []struct{ table, query string }{
	{"signin_failures", `DELETE FROM signin_failures WHERE occurred_at <= now() - make_interval(secs => $1)`},
	{"signin_attempts", `DELETE FROM signin_attempts WHERE occurred_at <= now() - make_interval(secs => $1)`},
}

// PruneSigninCounts deletes failed sign-ins and attempts older than the limits' window, which
// no longer count against anyone.
func (s *Store) PruneSigninCounts(ctx context.Context, window time.Duration) (int64, error) {
	var n int64
	for _, p := range signinPrunes {
		res, err := s.db.ExecContext(ctx, p.query, window.Seconds())
		if err != nil {
			return n, fmt.Errorf("store: prune %s: %w", p.table, err)
		}
		m, _ := res.RowsAffected()
		n += m
	}
	return n, nil
}

func normalEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
