package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// A person who chose the hourly digest for a kind of message gets no e-mail of its own for each:
// its notification stays pending with ReasonDigest (NextDelivery), and once an hour one e-mail
// tells of all of them that are still unopened, then marks them sent together. Each notification
// is told of once, by its own e-mail or by one digest, never both.

// DigestSweepArgs is the hourly periodic job that finds who has a digest due and enqueues one
// DigestArgs job for each. River runs periodic jobs on its elected leader only, and the job is
// unique per hour besides, so several instances sweep once.
type DigestSweepArgs struct{}

// Kind names the job in River's table.
func (DigestSweepArgs) Kind() string { return "notify_digest_sweep" }

// DigestArgs is the job that sends one person's digest of one kind of message. It is unique by
// its arguments while it waits or runs, so a sweep that finds the same person again (another
// hour, another instance) adds nothing until this one is done.
type DigestArgs struct {
	UserID int64            `json:"user_id" db:"user_id"`
	About  NotificationKind `json:"about" db:"about"`
}

// Kind names the job in River's table.
func (DigestArgs) Kind() string { return "notify_digest" }

// Digest is what a worker should do with a person's digest now.
type Digest struct {
	Send bool   // e-mail To now
	To   string // the recipient's address, when Send
	// IDs are the notifications the e-mail tells of, to mark sent (or failed) together.
	IDs []int64
}

// digestUnique makes a digest job unique by person and kind while it waits, runs or retries,
// but not once it is done (River's default keeps completed jobs unique too, for a day), so next
// hour's digest can go.
var digestUnique = river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{rivertype.JobStateAvailable,
	rivertype.JobStatePending, rivertype.JobStateRunning, rivertype.JobStateRetryable, rivertype.JobStateScheduled}}

// digestLockSpace is the advisory-lock key space of digests: one lock per person and kind, so two
// workers never both send one person's digest.
const digestLockSpace = 0x646967 // "dig"

// EnqueueDigests enqueues a digest job for every person and kind with a notification waiting
// for one, and says how many it found.
func (s *Store) EnqueueDigests(ctx context.Context) (int, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("store: enqueue digests: %w", err)
	}
	defer tx.Rollback()
	var due []DigestArgs
	err = tx.SelectContext(ctx, &due, `
		SELECT DISTINCT n.recipient_id AS user_id, `+aboutSQL+` AS about
		FROM notifications n JOIN users r ON r.id = n.recipient_id
		WHERE n.state = 'pending' AND n.reason = $1
		ORDER BY 1, 2`, ReasonDigest)
	if err != nil {
		return 0, fmt.Errorf("store: enqueue digests: %w", err)
	}
	if len(due) == 0 {
		return 0, nil
	}
	q, err := s.inserter()
	if err != nil {
		return 0, err
	}
	params := make([]river.InsertManyParams, len(due))
	for i, d := range due {
		params[i] = river.InsertManyParams{Args: d, InsertOpts: &river.InsertOpts{UniqueOpts: digestUnique}}
	}
	if _, err := q.InsertManyTx(ctx, tx.Tx, params); err != nil {
		return 0, fmt.Errorf("store: enqueue digests: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: enqueue digests: %w", err)
	}
	return len(due), nil
}

// NextDigest decides what to do with userID's digest of kind about, and counts the attempt.
// Under a lock on the person and kind, it takes the notifications waiting for the digest:
// those whose message the addressee has opened by now are skipped as read, and all of them are
// skipped if the person has since turned the kind off. If any remain, the digest goes (Send), and
// prepare runs in this transaction (for the e-mail's unsubscribe token); nothing waiting, nothing
// goes.
func (s *Store) NextDigest(ctx context.Context, userID int64, about NotificationKind,
	prepare func(sqlx.ExecerContext, Digest) error) (Digest, error) {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Digest{}, fmt.Errorf("store: digest of user %d: %w", userID, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2::text || ':' || $3::text))`,
		digestLockSpace, userID, about); err != nil {
		return Digest{}, fmt.Errorf("store: digest of user %d: %w", userID, err)
	}
	var rows []struct {
		ID        int64          `db:"id"`
		Unopened  bool           `db:"unopened"`
		Email     string         `db:"email"`
		Automatic bool           `db:"automatic"`
		Chosen    sql.NullString `db:"delivery"`
	}
	err = tx.SelectContext(ctx, &rows, `
		SELECT n.id, m.opened_at IS NULL AS unopened, r.email, `+noMailSQL+` AS automatic, `+deliverySQL+` AS delivery
		FROM notifications n JOIN users r ON r.id = n.recipient_id JOIN messages m ON m.id = n.message_id
		WHERE n.recipient_id = $1 AND n.state = 'pending' AND n.reason = $2 AND `+aboutSQL+` = $3
		ORDER BY n.id
		FOR UPDATE OF n`, userID, ReasonDigest, about)
	if err != nil {
		return Digest{}, fmt.Errorf("store: digest of user %d: %w", userID, err)
	}
	var d Digest
	var read, off []int64
	for _, r := range rows {
		switch {
		case delivery(r.Chosen, about, r.Automatic) == DeliveryOff:
			off = append(off, r.ID)
		case !r.Unopened:
			read = append(read, r.ID)
		default:
			d.IDs = append(d.IDs, r.ID)
			d.To = r.Email
		}
	}
	for reason, ids := range map[string][]int64{ReasonOff: off, ReasonRead: read} {
		if len(ids) == 0 {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET state = 'skipped', reason = $2 WHERE id = ANY($1)`,
			pq.Array(ids), reason); err != nil {
			return Digest{}, fmt.Errorf("store: digest of user %d: %w", userID, err)
		}
	}
	if d.Send = len(d.IDs) > 0; d.Send {
		if _, err := tx.ExecContext(ctx, `UPDATE notifications SET attempts = attempts + 1, attempted_at = now() WHERE id = ANY($1)`,
			pq.Array(d.IDs)); err != nil {
			return Digest{}, fmt.Errorf("store: digest of user %d: %w", userID, err)
		}
		if prepare != nil {
			if err := prepare(tx, d); err != nil {
				return Digest{}, err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return Digest{}, fmt.Errorf("store: digest of user %d: %w", userID, err)
	}
	return d, nil
}

// MarkDigestSent records that the mail server accepted the digest telling of notifications ids;
// complete runs in the same transaction, as in MarkNotificationSent.
func (s *Store) MarkDigestSent(ctx context.Context, ids []int64, complete func(*sql.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: mark digest sent: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `
		UPDATE notifications SET state = 'sent', reason = '', sent_at = now()
		WHERE id = ANY($1) AND state = 'pending'`, pq.Array(ids)); err != nil {
		return fmt.Errorf("store: mark digest sent: %w", err)
	}
	if err := complete(tx.Tx); err != nil {
		return fmt.Errorf("store: mark digest sent: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: mark digest sent: %w", err)
	}
	return nil
}

// MarkDigestFailed records that the digest telling of notifications ids cannot be sent, and why,
// as MarkNotificationFailed does for one.
func (s *Store) MarkDigestFailed(ctx context.Context, ids []int64, reason string) error {
	_, err := s.db.ExecContext(ctx, `
		UPDATE notifications SET state = 'failed', reason = $2 WHERE id = ANY($1) AND state = 'pending'`,
		pq.Array(ids), reason)
	if err != nil {
		return fmt.Errorf("store: mark digest failed: %w", err)
	}
	return nil
}
