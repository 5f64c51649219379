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

// SigninLimits bound failed sign-ins within a window.
type SigninLimits struct {
	Window     time.Duration
	PerAccount int
	PerAddress int
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

func normalEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
