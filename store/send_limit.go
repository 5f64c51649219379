package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// SendLimits bound what one patient may send: new conversations, follow-ups and replies
// together, at most Messages within any Window. The default is far above what a patient writing
// to their practice sends, and stops a script from filling the practice's queue. Staff are not
// limited. A practice's own limits per day and per week (LimitSettings) take its place where the
// practice has set either.
type SendLimits struct {
	Messages int           // 0: no limit
	Window   time.Duration // how far back sends are counted
}

// DefaultSendLimits is the configuration's default (app.Config.SendLimits). A store starts with
// none, for the tools and tests that write many messages.
var DefaultSendLimits = SendLimits{Messages: 10, Window: 10 * time.Minute}

// LimitSends sets the limits; call it before serving (app.New does).
func (s *Store) LimitSends(l SendLimits) { s.limits = l }

// SendLimited is returned by a send over the limit, which changed nothing. Retry is when the
// oldest send counted leaves the window, so the next one is allowed.
type SendLimited struct {
	Limit SendLimits
	Retry time.Time
}

func (e *SendLimited) Error() string {
	return fmt.Sprintf("store: %d messages sent within %s; the next is allowed at %s",
		e.Limit.Messages, e.Limit.Window, e.Retry.UTC().Format(time.RFC3339))
}

// checkSendLimit refuses a patient's send once they have sent a limit's count within its window:
// the practice's per day and per week, or the configured one where the practice has set neither.
// It locks the patient's user row first, so concurrent sends by one patient are counted one after
// the other and never all pass: each counts the messages the ones before it committed. Another
// patient's sends take another row and do not wait. A cancelled message no longer counts: it could
// be cancelled only while nobody had acted on it, and it is gone from the practice's queue.
func (s *Store) checkSendLimit(ctx context.Context, tx *sqlx.Tx, v Viewer, ps PracticeSettings) error {
	limits := ps.Limits.SendLimits(s.limits)
	if v.Role != RolePatient || len(limits) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT 1 FROM users WHERE id = $1 FOR UPDATE`, v.UserID); err != nil {
		return fmt.Errorf("store: lock sender %d: %w", v.UserID, err)
	}
	var refused *SendLimited
	for _, l := range limits {
		// The Messages-th newest message in the window, if there is one, is the limit reached; once
		// it leaves the window one more is allowed. clock_timestamp, not now(): the transaction may
		// have waited for the lock.
		var reached time.Time
		err := tx.GetContext(ctx, &reached, `
			SELECT created_at FROM messages
			WHERE author_id = $1 AND created_at > clock_timestamp() - make_interval(secs => $2)
			ORDER BY created_at DESC OFFSET $3 - 1 LIMIT 1`,
			v.UserID, l.Window.Seconds(), l.Messages)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("store: count sends of %d: %w", v.UserID, err)
		}
		// Of two limits reached, the one that lets the next message through later decides.
		if retry := reached.Add(l.Window); refused == nil || retry.After(refused.Retry) {
			refused = &SendLimited{Limit: l, Retry: retry}
		}
	}
	if refused != nil {
		return refused
	}
	return nil
}
