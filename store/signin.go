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
	if _, err := s.db.ExecContext(ctx, `INSERT INTO signin_failures (email, client_ip) VALUES ($1, $2)`,
		normalEmail(email), o.ClientIP); err != nil {
		return fmt.Errorf("store: record sign-in failure: %w", err)
	}
	return s.Record(ctx, Audit{Action: "sign_in_failed", Outcome: "failure", RequestID: o.RequestID, ClientIP: o.ClientIP})
}

func normalEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }
